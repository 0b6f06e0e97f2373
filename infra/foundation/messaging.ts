import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { PubsubSubscription } from '@cdktf/provider-google/lib/pubsub-subscription/index.js';
import { PubsubTopic } from '@cdktf/provider-google/lib/pubsub-topic/index.js';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC } from '../../src/catalog/catalog.js';
import { HISTORY_SPILL_SUBSCRIPTION, HISTORY_SPILL_TOPIC } from '../../src/history/spill/names.js';
import type { InfraConfig } from '../config.js';
import { NAMES } from '../names.js';
import { windowMinutes } from '../window.js';

/**
 * One topic per catalog entry, the day-card topic, the dead-letter topic and
 * the history spill topic. Only the parked messages get fixed subscriptions
 * here: a topic with no subscription keeps nothing, and dead letters and
 * spilled history rows must wait for a person. SSE instances create and
 * delete their own subscriptions at run time.
 *
 * The feed and day-card topics retain every message for the daily window
 * plus a margin, so a new SSE instance can seek its fresh subscriptions back
 * to the window's start and begin with the day's state. Every topic stores
 * its messages in the deployment region only (message storage policy).
 */
export class Messaging extends Construct {
  /** Catalog topic id -> topic. */
  readonly topics = new Map<string, PubsubTopic>();
  readonly dayCardTopic: PubsubTopic;
  readonly deadLetterTopic: PubsubTopic;
  readonly spillTopic: PubsubTopic;
  /** Topic retention of the feed and day-card topics, e.g. '64800s'. */
  readonly feedRetention: string;

  constructor(scope: Construct, id: string, config: InfraConfig, dependsOn: ITerraformDependable[]) {
    super(scope, id);
    const { seekBackMarginMinutes, parkedRetention } = config.settings.pubsub;
    this.feedRetention = `${(windowMinutes(config.window) + seekBackMarginMinutes) * 60}s`;
    const topic = (name: string, retention: string, labels: Record<string, string>) =>
      new PubsubTopic(this, name, {
        name,
        messageRetentionDuration: retention,
        messageStoragePolicy: { allowedPersistenceRegions: [config.region] },
        labels,
        dependsOn,
      });
    for (const entry of CATALOG) {
      this.topics.set(entry.topic, topic(entry.topic, this.feedRetention, { component: 'feed', family: entry.family }));
    }
    this.dayCardTopic = topic(DAY_CARD_TOPIC, this.feedRetention, { component: 'day-card' });
    this.deadLetterTopic = topic(DEAD_LETTER_TOPIC, parkedRetention, { component: 'dead-letter' });
    this.spillTopic = topic(HISTORY_SPILL_TOPIC, parkedRetention, { component: 'history' });
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
