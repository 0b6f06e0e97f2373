import { TerraformOutput } from 'cdktf';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config.js';
import { ToteStack } from '../tote-stack.js';
import { Alerts } from './alerts.js';
import { Dashboard } from './dashboard.js';
import { Schedule } from './schedule.js';
import { SseService } from './sse-service.js';
import { SubscriberService } from './subscriber-service.js';

/**
 * What runs the image: the two Cloud Run services, the daily schedule, and
 * the alerts and dashboard over their figures. Deployed after the foundation
 * and after the image is built; it refers to foundation resources by name.
 */
export class ServicesStack extends ToteStack {
  readonly subscriber: SubscriberService;
  readonly sse: SseService;

  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id, config, 'services');
    this.subscriber = new SubscriberService(this, 'subscriber', config);
    this.sse = new SseService(this, 'sse', config);
    new Schedule(this, 'schedule', config, this.subscriber.service);
    new Alerts(this, 'alerts', config);
    new Dashboard(this, 'dashboard', config);
    new TerraformOutput(this, 'subscriber-url', { value: this.subscriber.service.uri });
    new TerraformOutput(this, 'sse-url', { value: this.sse.service.uri });
  }
}
