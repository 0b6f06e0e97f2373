import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { BigqueryDatasetIamMember } from '@cdktf/provider-google/lib/bigquery-dataset-iam-member/index.js';
import { BigqueryTableIamMember } from '@cdktf/provider-google/lib/bigquery-table-iam-member/index.js';
import { ProjectIamCustomRole } from '@cdktf/provider-google/lib/project-iam-custom-role/index.js';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member/index.js';
import { PubsubTopicIamMember } from '@cdktf/provider-google/lib/pubsub-topic-iam-member/index.js';
import { SecretManagerSecretIamMember } from '@cdktf/provider-google/lib/secret-manager-secret-iam-member/index.js';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member/index.js';
import type { InfraConfig } from '../config.js';
import { DEAD_LETTERS_TABLE, MESSAGES_TABLE, NAMES_TABLE } from '../../src/history/schema.js';
import { NAMES, SECRETS, roleId, type SecretVariable } from '../names.js';
import type { History } from './history.js';
import type { Messaging } from './messaging.js';
import type { Secrets } from './secrets.js';

/**
 * The runtime accounts and what each may touch, granted on the resource
 * itself wherever IAM allows it (a topic, a table, a secret), never by a
 * primitive role. Grants on the Cloud Run services live in the services
 * stack beside them.
 */
export class Identities extends Construct {
  readonly subscriber: ServiceAccount;
  readonly sse: ServiceAccount;
  readonly scheduler: ServiceAccount;
  readonly scaler: ServiceAccount;
  readonly scalerRole: ProjectIamCustomRole;

  constructor(
    scope: Construct,
    id: string,
    config: InfraConfig,
    data: { messaging: Messaging; history: History; secrets: Secrets },
    dependsOn: ITerraformDependable[],
  ) {
    super(scope, id);
    const account = (accountId: string, displayName: string, description: string) =>
      new ServiceAccount(this, accountId, { accountId, displayName, description, dependsOn });
    this.subscriber = account(
      NAMES.accounts.subscriber,
      'Tote subscriber',
      'Holds the Tote connection: publishes the feed and the day card, streams into the history tables, reads the Tote secrets',
    );
    this.sse = account(
      NAMES.accounts.sse,
      'Tote SSE',
      'Serves dashboards: subscribes to the feed and day-card topics through its own subscriptions',
    );
    this.scheduler = account(NAMES.accounts.scheduler, 'Tote scheduler', 'Calls the subscriber /start and /stop');
    this.scaler = account(
      NAMES.accounts.scaler,
      'Tote subscriber scaler',
      'Sets the subscriber instance count to 1 before the window and 0 after it',
    );

    const { messaging, history, secrets } = data;
    const subscriber = `serviceAccount:${this.subscriber.email}`;
    const sse = `serviceAccount:${this.sse.email}`;

    // Subscriber: publish on its topics only (the feed, the day card it fetches, dead letters, spilled history).
    const published = [
      ...messaging.topics,
      ['day-card', messaging.dayCardTopic],
      ['dead-letters', messaging.deadLetterTopic],
      ['spill', messaging.spillTopic],
    ] as const;
    for (const [name, topic] of published) {
      new PubsubTopicIamMember(this, `subscriber-publishes-${name}`, {
        topic: topic.name,
        role: 'roles/pubsub.publisher',
        member: subscriber,
      });
    }
    // Subscriber: streaming inserts into its three tables only. tabledata.insertAll checks
    // bigquery.tables.updateData and bigquery.tables.get on the table and bigquery.datasets.get on the
    // dataset; roles/bigquery.dataEditor would also let it delete or re-schema the tables.
    const inserterRole = new ProjectIamCustomRole(this, 'history-inserter-role', {
      roleId: roleId('historyInserter', config.roleGeneration),
      title: 'Tote history inserter',
      description: 'Streaming inserts into one BigQuery table; granted on the history tables only',
      permissions: ['bigquery.tables.get', 'bigquery.tables.updateData'],
      dependsOn,
    });
    for (const [name, table] of [
      [MESSAGES_TABLE, history.messages],
      [DEAD_LETTERS_TABLE, history.deadLetters],
      [NAMES_TABLE, history.names],
    ] as const) {
      new BigqueryTableIamMember(this, `subscriber-writes-${name}`, {
        datasetId: table.datasetId,
        tableId: table.tableId,
        role: inserterRole.name,
        member: subscriber,
      });
    }
    // bigquery.datasets.get: the narrowest predefined role holding it reads metadata only, never rows.
    new BigqueryDatasetIamMember(this, 'subscriber-sees-dataset', {
      datasetId: history.dataset.datasetId,
      role: 'roles/bigquery.metadataViewer',
      member: subscriber,
    });
    // The Tote secrets are read by the subscriber alone: it holds the socket and fetches the day card.
    for (const variable of Object.keys(SECRETS) as SecretVariable[]) {
      new SecretManagerSecretIamMember(this, `subscriber-reads-${SECRETS[variable]}`, {
        secretId: secrets.byVariable[variable].id,
        role: 'roles/secretmanager.secretAccessor',
        member: subscriber,
      });
    }

    // SSE: attach its own subscriptions to the feed and day-card topics...
    for (const [name, topic] of [...messaging.topics, ['day-card', messaging.dayCardTopic] as const]) {
      new PubsubTopicIamMember(this, `sse-attaches-${name}`, { topic: topic.name, role: 'roles/pubsub.subscriber', member: sse });
    }
    // ...and create, read, seek and delete them. Subscriptions are created at run time with
    // instance-specific names, so no resource exists to grant on, and Pub/Sub does not accept IAM
    // conditions on resource names: this custom role is the narrowest project-level grant, and it
    // also reaches the two parked subscriptions (the residual risk is in the README, Security).
    const sseRole = new ProjectIamCustomRole(this, 'sse-subscriptions-role', {
      roleId: roleId('sseSubscriptions', config.roleGeneration),
      title: 'Tote SSE per-instance subscriptions',
      description: 'Create, consume, seek and delete the per-instance Pub/Sub subscriptions of the SSE service',
      permissions: [
        'pubsub.subscriptions.consume',
        'pubsub.subscriptions.create',
        'pubsub.subscriptions.delete',
        'pubsub.subscriptions.get',
      ],
      dependsOn,
    });
    new ProjectIamMember(this, 'sse-manages-subscriptions', { project: config.projectId, role: sseRole.name, member: sse });
    // Token mode: the key readers' tokens are checked with, and no other secret.
    if (secrets.sseJwtSecret) {
      new SecretManagerSecretIamMember(this, 'sse-reads-jwt-secret', {
        secretId: secrets.sseJwtSecret.id,
        role: 'roles/secretmanager.secretAccessor',
        member: sse,
      });
    }
    // Undecodable messages the consumer meets are dead-lettered like the subscriber's.
    new PubsubTopicIamMember(this, 'sse-publishes-dead-letters', {
      topic: messaging.deadLetterTopic.name,
      role: 'roles/pubsub.publisher',
      member: sse,
    });

    // Scaler: the Admin API checks actAs on the runtime account of a service it updates.
    this.scalerRole = new ProjectIamCustomRole(this, 'subscriber-scaler-role', {
      roleId: roleId('subscriberScaler', config.roleGeneration),
      title: 'Tote subscriber scaler',
      description: 'Read and update one Cloud Run service (its manual instance count); granted on that service only',
      permissions: ['run.services.get', 'run.services.update'],
      dependsOn,
    });
    new ServiceAccountIamMember(this, 'scaler-acts-as-subscriber', {
      serviceAccountId: this.subscriber.name,
      role: 'roles/iam.serviceAccountUser',
      member: `serviceAccount:${this.scaler.email}`,
    });
  }
}
