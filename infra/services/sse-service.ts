import { Construct } from 'constructs';
import { CloudRunV2Service } from '@cdktf/provider-google/lib/cloud-run-v2-service/index.js';
import { CloudRunV2ServiceIamMember } from '@cdktf/provider-google/lib/cloud-run-v2-service-iam-member/index.js';
import type { InfraConfig } from '../config.js';
import { NAMES, serviceAccountEmail } from '../names.js';
import { sharedEnv, toteContainer } from './container.js';

/**
 * The public SSE service. Instance-based billing, because each instance pulls
 * from Pub/Sub in the background; autoscaled on concurrent streams, to zero
 * when nobody watches. It reads the day card (race and product names) from
 * its topic like the feed, so it needs none of Tote's secrets.
 */
export class SseService extends Construct {
  readonly service: CloudRunV2Service;

  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id);
    const { projectId } = config;
    const s = config.settings.sse;
    this.service = new CloudRunV2Service(this, 'service', {
      name: NAMES.sseService,
      location: config.region,
      description: 'Live Tote dashboards over Server-Sent Events',
      ingress: 'INGRESS_TRAFFIC_ALL',
      deletionProtection: config.deletionProtection,
      labels: { component: 'sse' },
      template: {
        serviceAccount: serviceAccountEmail(NAMES.accounts.sse, projectId),
        maxInstanceRequestConcurrency: s.concurrency,
        // Cloud Run's maximum: a stream lives up to an hour, then EventSource resumes by Last-Event-ID.
        timeout: '3600s',
        scaling: { minInstanceCount: s.minInstances, maxInstanceCount: s.maxInstances },
        containers: [
          toteContainer({
            name: 'sse',
            image: config.image,
            entry: 'dist/src/sse/main.js',
            cpu: s.cpu,
            memory: s.memory,
            env: { ...sharedEnv(config), LOG_LEVEL: s.logLevel },
          }),
        ],
      },
    });
    new CloudRunV2ServiceIamMember(this, 'public', {
      name: this.service.name,
      location: this.service.location,
      role: 'roles/run.invoker',
      member: 'allUsers',
    });
  }
}
