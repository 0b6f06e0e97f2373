import { Construct } from 'constructs';
import { CloudRunV2Service } from '@cdktf/provider-google/lib/cloud-run-v2-service/index.js';
import { CloudRunV2ServiceIamMember } from '@cdktf/provider-google/lib/cloud-run-v2-service-iam-member/index.js';
import type { InfraConfig } from '../config.js';
import { LEASE_OBJECT, NAMES, customRoleName, leaseBucket, secretRef, serviceAccountEmail } from '../names.js';
import { imageOf, sharedEnv, toteContainer } from './container.js';

/**
 * The subscriber: exactly one instance inside the window, none outside it.
 *
 * Service-level manual scaling holds the instance count; Cloud Scheduler sets
 * it to 1 before the window and 0 after it through the Admin API (schedule.ts),
 * so Terraform must not own the field: `scaling` is ignored after creation,
 * or the next deploy would undo the schedule. An instance Cloud Run restarts
 * mid-window boots inside the window and reconnects by itself
 * (SUBSCRIBER_AUTO_START); one that boots outside it stays idle.
 */
export class SubscriberService extends Construct {
  readonly service: CloudRunV2Service;

  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id);
    const { projectId } = config;
    const s = config.settings.subscriber;
    this.service = new CloudRunV2Service(this, 'service', {
      name: NAMES.subscriberService,
      location: config.region,
      description:
        `Holds the Tote GraphQL subscription socket ${config.window.start}-${config.window.end} ${config.window.timeZone} ` +
        'and fans messages out to Pub/Sub and BigQuery',
      // Cloud Scheduler reaches it over the public endpoint; IAM (run.invoker) is the gate.
      ingress: 'INGRESS_TRAFFIC_ALL',
      invokerIamDisabled: false,
      deletionProtection: config.deletionProtection,
      scaling: { scalingMode: 'MANUAL', manualInstanceCount: 0 },
      lifecycle: { ignoreChanges: ['scaling'] },
      labels: { component: 'subscriber' },
      template: {
        serviceAccount: serviceAccountEmail(NAMES.accounts.subscriber, projectId),
        // Second generation: a full Linux network stack for one long-lived, busy socket.
        executionEnvironment: 'EXECUTION_ENVIRONMENT_GEN2',
        // Only the control API is served; a handful of concurrent calls is plenty.
        maxInstanceRequestConcurrency: 10,
        // POST /stop flushes Pub/Sub and BigQuery before answering.
        timeout: '120s',
        containers: [
          toteContainer({
            name: 'subscriber',
            image: imageOf(this, NAMES.subscriberService, config),
            entry: 'dist/src/subscriber/main.js',
            cpu: s.cpu,
            memory: s.memory,
            env: {
              ...sharedEnv(config),
              HISTORY: 'bigquery',
              BQ_PROJECT: projectId,
              BQ_DATASET: NAMES.dataset,
              BQ_LOCATION: config.bigqueryLocation,
              HISTORY_SPILL: 'pubsub',
              HISTORY_SPILL_CREATE_TOPICS: 'false',
              // Secret Manager references: the socket, and the query API the day card is fetched from.
              TOTE_SUBSCRIPTIONS_URL: secretRef(projectId, 'TOTE_SUBSCRIPTIONS_URL'),
              TOTE_GRAPHQL_URL: secretRef(projectId, 'TOTE_GRAPHQL_URL'),
              TOTE_API_KEY: secretRef(projectId, 'TOTE_API_KEY'),
              SUBSCRIBER_AUTO_START: 'true',
              // One Tote connection across instances: a revision rolling out inside the window waits
              // for the old instance to release this lease (or for it to expire) before it connects.
              SUBSCRIBER_LEASE: `gs://${leaseBucket(projectId)}/${LEASE_OBJECT}`,
              LOG_LEVEL: s.logLevel,
            },
          }),
        ],
      },
    });

    // Only Cloud Scheduler may call it (no allUsers): /start and /stop...
    new CloudRunV2ServiceIamMember(this, 'scheduler-invokes', {
      name: this.service.name,
      location: this.service.location,
      role: 'roles/run.invoker',
      member: `serviceAccount:${serviceAccountEmail(NAMES.accounts.scheduler, projectId)}`,
    });
    // ...and the instance count, through a custom role granted on this service alone.
    new CloudRunV2ServiceIamMember(this, 'scaler-scales', {
      name: this.service.name,
      location: this.service.location,
      role: customRoleName(projectId, 'subscriberScaler', config.roleGeneration),
      member: `serviceAccount:${serviceAccountEmail(NAMES.accounts.scaler, projectId)}`,
    });
  }
}
