import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { BigqueryTableIamMember } from '@cdktf/provider-google/lib/bigquery-table-iam-member/index.js';
import { ProjectIamCustomRole } from '@cdktf/provider-google/lib/project-iam-custom-role/index.js';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member/index.js';
import { PubsubTopicIamMember } from '@cdktf/provider-google/lib/pubsub-topic-iam-member/index.js';
import { SecretManagerSecretIamMember } from '@cdktf/provider-google/lib/secret-manager-secret-iam-member/index.js';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member/index.js';
import type { InfraConfig } from '../config.js';
import { DEAD_LETTERS_TABLE, MESSAGES_TABLE } from '../../src/history/schema.js';
import { NAMES, SECRETS, type SecretVariable } from '../names.js';
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
      'Holds the Tote connection: publishes to the feed topics, streams into the history tables, reads the Tote secrets',
    );
    this.sse = account(
      NAMES.accounts.sse,
      'Tote SSE',
      'Serves dashboards: subscribes to the feed topics through its own subscriptions, reads the query API secrets',
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

    // Subscriber: publish on its topics only.
    const published = [...messaging.topics, ['dead-letters', messaging.deadLetterTopic], ['spill', messaging.spillTopic]] as const;
    for (const [name, topic] of published) {
      new PubsubTopicIamMember(this, `subscriber-publishes-${name}`, { topic: topic.name, role: 'roles/pubsub.publisher', member: subscriber });
    }
    // Subscriber: insert into its two tables only (streaming inserts need no job rights).
    for (const [name, table] of [[MESSAGES_TABLE, history.messages], [DEAD_LETTERS_TABLE, history.deadLetters]] as const) {
      new BigqueryTableIamMember(this, `subscriber-writes-${name}`, {
        datasetId: table.datasetId,
        tableId: table.tableId,
        role: 'roles/bigquery.dataEditor',
        member: subscriber,
      });
    }
    const readSecret = (who: string, member: string, variable: SecretVariable) =>
      new SecretManagerSecretIamMember(this, `${who}-reads-${SECRETS[variable]}`, {
        secretId: secrets.byVariable[variable].id,
        role: 'roles/secretmanager.secretAccessor',
        member,
      });
    readSecret('subscriber', subscriber, 'TOTE_API_KEY');
    readSecret('subscriber', subscriber, 'TOTE_GRAPHQL_URL');
    readSecret('subscriber', subscriber, 'TOTE_SUBSCRIPTIONS_URL');

    // SSE: attach its own subscriptions to the feed topics...
    for (const [name, topic] of messaging.topics) {
      new PubsubTopicIamMember(this, `sse-attaches-${name}`, { topic: topic.name, role: 'roles/pubsub.subscriber', member: sse });
    }
    // ...and create, read and delete them. Subscriptions are created at run time with instance-specific
    // names, so no resource exists to grant on: this custom role is the narrowest project-level grant,
    // and it also reaches the two parked subscriptions (documented in the README).
    const sseRole = new ProjectIamCustomRole(this, 'sse-subscriptions-role', {
      roleId: NAMES.roles.sseSubscriptions,
      title: 'Tote SSE per-instance subscriptions',
      description: 'Create, consume and delete the per-instance Pub/Sub subscriptions of the SSE service',
      permissions: [
        'pubsub.subscriptions.consume',
        'pubsub.subscriptions.create',
        'pubsub.subscriptions.delete',
        'pubsub.subscriptions.get',
      ],
      dependsOn,
    });
    new ProjectIamMember(this, 'sse-manages-subscriptions', { project: config.projectId, role: sseRole.name, member: sse });
    // Undecodable messages the consumer meets are dead-lettered like the subscriber's.
    new PubsubTopicIamMember(this, 'sse-publishes-dead-letters', {
      topic: messaging.deadLetterTopic.name,
      role: 'roles/pubsub.publisher',
      member: sse,
    });
    // The query API (race and product names); never the subscriptions URL.
    readSecret('sse', sse, 'TOTE_API_KEY');
    readSecret('sse', sse, 'TOTE_GRAPHQL_URL');

    // Scaler: the Admin API checks actAs on the runtime account of a service it updates.
    this.scalerRole = new ProjectIamCustomRole(this, 'subscriber-scaler-role', {
      roleId: NAMES.roles.subscriberScaler,
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
