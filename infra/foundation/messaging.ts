import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { PubsubSubscription } from '@cdktf/provider-google/lib/pubsub-subscription/index.js';
import { PubsubTopic } from '@cdktf/provider-google/lib/pubsub-topic/index.js';
import { CATALOG, DEAD_LETTER_TOPIC } from '../../src/catalog/catalog.js';
import { HISTORY_SPILL_SUBSCRIPTION, HISTORY_SPILL_TOPIC } from '../../src/history/spill/names.js';
import type { InfraConfig } from '../config.js';
import { NAMES } from '../names.js';

/**
 * One topic per catalog entry, the dead-letter topic and the history spill
 * topic. Only the parked messages get fixed subscriptions here: a topic with
 * no subscription keeps nothing, and dead letters and spilled history rows
 * must wait for a person. SSE instances create and delete their own
 * subscriptions at run time.
 */
export class Messaging extends Construct {
  /** Catalog topic id -> topic. */
  readonly topics = new Map<string, PubsubTopic>();
  readonly deadLetterTopic: PubsubTopic;
  readonly spillTopic: PubsubTopic;

  constructor(scope: Construct, id: string, config: InfraConfig, dependsOn: ITerraformDependable[]) {
    super(scope, id);
    const { topicRetention, parkedRetention } = config.settings.pubsub;
    for (const entry of CATALOG) {
      this.topics.set(
        entry.topic,
        new PubsubTopic(this, entry.topic, {
          name: entry.topic,
          messageRetentionDuration: topicRetention,
          labels: { component: 'feed', family: entry.family },
          dependsOn,
        }),
      );
    }
    this.deadLetterTopic = new PubsubTopic(this, DEAD_LETTER_TOPIC, {
      name: DEAD_LETTER_TOPIC,
      messageRetentionDuration: parkedRetention,
      labels: { component: 'dead-letter' },
      dependsOn,
    });
    this.spillTopic = new PubsubTopic(this, HISTORY_SPILL_TOPIC, {
      name: HISTORY_SPILL_TOPIC,
      messageRetentionDuration: parkedRetention,
      labels: { component: 'history' },
      dependsOn,
    });
    this.park('dead-letter-archive', NAMES.deadLetterArchive, this.deadLetterTopic, parkedRetention, 'dead-letter');
    this.park('history-spill-replay', HISTORY_SPILL_SUBSCRIPTION, this.spillTopic, parkedRetention, 'history');
  }

  /** A subscription that never expires and keeps messages until someone acknowledges them. */
  private park(id: string, name: string, topic: PubsubTopic, retention: string, component: string): void {
    new PubsubSubscription(this, id, {
      name,
      topic: topic.id,
      messageRetentionDuration: retention,
      // Reading a batch and writing it elsewhere takes longer than the 10 s default.
      ackDeadlineSeconds: 60,
      // An empty TTL means never: nobody reads these on a normal day.
      expirationPolicy: { ttl: '' },
      labels: { component },
    });
  }
}
