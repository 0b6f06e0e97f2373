import type { Construct } from 'constructs';
import type { InfraConfig } from '../config.js';
import { ToteStack } from '../tote-stack.js';
import { Apis } from './apis.js';
import { History } from './history.js';
import { Identities } from './identities.js';
import { Lease } from './lease.js';
import { LogMetrics } from './log-metrics.js';
import { Messaging } from './messaging.js';
import { Registry } from './registry.js';
import { Secrets } from './secrets.js';

/**
 * Everything that must exist before the image is built and the services
 * run: APIs, the image repository, topics, history tables, secrets, accounts
 * with their data grants, the subscriber's lease bucket, and the log-based metrics.
 */
export class FoundationStack extends ToteStack {
  readonly registry: Registry;
  readonly messaging: Messaging;
  readonly history: History;
  readonly secrets: Secrets;
  readonly identities: Identities;

  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id, config, 'foundation');
    const apis = new Apis(this, 'apis').services;
    this.registry = new Registry(this, 'registry', config, apis);
    this.messaging = new Messaging(this, 'messaging', config, apis);
    this.history = new History(this, 'history', config, apis);
    this.secrets = new Secrets(this, 'secrets', config, apis);
    this.identities = new Identities(
      this,
      'identities',
      config,
      { messaging: this.messaging, history: this.history, secrets: this.secrets },
      apis,
    );
    new Lease(this, 'lease', config, this.identities.subscriber, apis);
    new LogMetrics(this, 'log-metrics', apis);
  }
}
