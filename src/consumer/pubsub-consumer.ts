import type { PubSub } from '@google-cloud/pubsub';
import { Registry } from 'prom-client';
import { createPubSub } from '../bus/pubsub-client.js';
import type { ReportingSource, SourceState } from '../bus/source-capabilities.js';
import type { DayCardListener, DayCardSource, EnvelopeListener } from '../bus/types.js';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC, type CatalogEntry } from '../catalog/catalog.js';
import type { BusConfig } from '../config/bus.js';
import type { ConsumerConfig, SseConfig } from '../config/sse.js';
import { settlesBy } from '../deadline/deadline.js';
import type { Logger } from '../log/logger.js';
import { Delivery, type SlowEnvelopeListener } from './delivery.js';
import type { PubSubConsumerStatus } from './status.js';
import { ConsumerStartError, ConsumerSubscriptions, type SubscriptionSlot } from './subscriptions.js';

export { ConsumerStartError } from './subscriptions.js';
export type { SlowEnvelopeListener } from './delivery.js';

export interface PubSubConsumerOptions {
  /** Project, emulator host and whether to create missing topics (the emulator; in the cloud they come from infra). */
  readonly config: BusConfig;
  /** The SSE instance's id (names its subscriptions) and the consumer's own options. */
  readonly sse: Pick<SseConfig, 'instanceId' | 'consumer' | 'feedWindow'>;
  readonly log: Logger;
  /** Defaults to every catalog entry. */
  readonly entries?: readonly CatalogEntry[];
}

/**
 * Reads every catalog topic into in-process listeners, and the day-card topic
 * into the names directory: the Pub/Sub side of the SSE service.
 *
 * Broadcast, not load-split: each instance creates its own subscription per
 * topic (`sse-<instanceId>-<topic>`) at start, with the minimum retention and
 * a one-day expiration as the backstop for a crash, and deletes them on
 * close(). A shared subscription would split the stream between instances.
 *
 * A new subscription only sees messages published after it exists, so each
 * is sought back to `seekTarget` (today's window start, at most `seekBackMs`
 * ago): in the cloud the topics' retention replays the day so far and a fresh
 * instance's /snapshot starts complete. Replayed messages are ordinary
 * redeliveries to everything downstream (dropped by envelope id). Resume is
 * only promised from `completeSince()`: the latest of the subscriptions'
 * `completeFrom` (the seek target where the topic's retention guarantees the
 * replay, else the moment it became active), which moves forward when one had
 * to be recreated (a gap). A browser reconnecting to a fresh instance with an
 * id stamped after that resumes exactly instead of refetching the snapshot.
 *
 * Two parts, composed here: ConsumerSubscriptions (create, seek, reopen,
 * delete) and Delivery (decode, dedupe, fan-out, ack, dead-letter, metrics).
 * Flow control bounds what the client holds per subscription: at
 * maxMessages unacked it stops handing out messages and pulling, so a slow
 * listener slows the pull instead of growing memory (status: outstanding).
 */
export class PubSubConsumer implements ReportingSource, DayCardSource {
  readonly kind = 'pubsub' as const;
  readonly metricsRegistry = new Registry();
  private readonly pubsub: PubSub;
  private readonly subscriptions: ConsumerSubscriptions;
  private readonly delivery: Delivery;
  private readonly gapListeners = new Set<(at: number) => void>();
  private state: SourceState = 'starting';
  private completeSinceMs = 0;
  /** The creations of a start() under way, which a close() must let land before deleting. */
  private creating: Promise<unknown> = Promise.resolve();
  private readonly cfg: ConsumerConfig;
  private readonly instanceId: string;

  constructor(private readonly opts: PubSubConsumerOptions) {
    this.cfg = opts.sse.consumer;
    this.instanceId = opts.sse.instanceId;
    this.pubsub = createPubSub(opts.config);
    this.delivery = new Delivery({ config: this.cfg, instanceId: this.instanceId, log: opts.log, registry: this.metricsRegistry });
    this.subscriptions = new ConsumerSubscriptions({
      pubsub: this.pubsub,
      config: this.cfg,
      instanceId: this.instanceId,
      feedWindow: opts.sse.feedWindow,
      topics: [...(opts.entries ?? CATALOG).map((e) => ({ topic: e.topic, entry: e })), { topic: DAY_CARD_TOPIC, entry: undefined }],
      log: opts.log,
      registry: this.metricsRegistry,
      onMessage: (slot, m) => this.delivery.take(slot, m),
      onReopened: (slot) => this.reopened(slot),
      lastPublishedAt: (slot) => this.delivery.tally(slot).lastPublishedAt,
    });
  }

  /** What this instance has read, by outcome, and how its subscriptions fared. */
  get counts() {
    return { ...this.delivery.counts, ...this.subscriptions.counts };
  }

  /** Names of this instance's subscriptions (one per topic, the day-card topic last). */
  get subscriptionNames(): string[] {
    return this.subscriptions.slots.map((s) => s.name);
  }

  /**
   * Since when (epoch ms) this instance has every message: the latest of the
   * subscriptions' `completeFrom`, plus the clock-skew allowance. A client
   * resuming from an id stamped earlier may have missed something here. 0
   * before start.
   */
  completeSince(): number {
    return this.completeSinceMs;
  }

  /** Called with the new completeSince() when a recreated subscription may have missed messages. */
  onGap(listener: (at: number) => void): () => void {
    this.gapListeners.add(listener);
    return () => this.gapListeners.delete(listener);
  }

  /**
   * Creates this instance's subscriptions and seeks each back. Messages
   * published from the seek target on are kept for it; they are pulled once
   * the first listener of their kind subscribes. On failure every
   * subscription already created is deleted again.
   */
  async start(): Promise<void> {
    if (this.state !== 'starting') throw new Error(`consumer cannot start when ${this.state}`);
    if (this.opts.config.createTopics) {
      const topics = this.subscriptions.slots.map((s) => s.topic);
      if (this.cfg.deadLetter) topics.push(DEAD_LETTER_TOPIC);
      await this.subscriptions.ensureTopics(topics);
    }
    if (this.cfg.deadLetter) this.delivery.deadLetterTo(this.subscriptions.topic(DEAD_LETTER_TOPIC));
    const creating = this.subscriptions.createAll();
    this.creating = creating;
    const results = await creating;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    // A close() that came while creating (SIGTERM during start) owns the clean-up.
    if (this.state !== 'starting') throw new ConsumerStartError('consumer closed while starting', '', '', undefined);
    if (failed) {
      await this.subscriptions.deleteAll(Date.now() + this.cfg.deleteTimeoutMs);
      await this.pubsub.close().catch(() => undefined);
      this.state = 'closed';
      throw failed.reason;
    }
    this.state = 'running';
    this.completeSinceMs = Math.max(...this.subscriptions.slots.map((s) => s.completeFrom)) + this.cfg.clockSkewMs;
    this.opts.log.info('pubsub consumer subscriptions created', {
      instanceId: this.instanceId,
      subscriptions: this.subscriptions.slots.length,
      completeSince: new Date(this.completeSinceMs).toISOString(),
    });
    if (this.delivery.listeners.size) this.subscriptions.attach('envelopes');
    if (this.delivery.cardListeners.size) this.subscriptions.attach('cards');
  }

  /** A listener returning a promise holds each message until it settles (see SlowEnvelopeListener). */
  subscribe(listener: EnvelopeListener | SlowEnvelopeListener): () => void {
    this.delivery.listeners.add(listener);
    if (this.state === 'running') this.subscriptions.attach('envelopes');
    return () => this.delivery.listeners.delete(listener);
  }

  /** The latest card at once when one has arrived, then each newer card. */
  subscribeDayCards(listener: DayCardListener): () => void {
    this.delivery.cardListeners.add(listener);
    const latest = this.delivery.latestCard;
    if (latest) listener(latest.card, latest.fetchedAt);
    if (this.state === 'running') this.subscriptions.attach('cards');
    return () => this.delivery.cardListeners.delete(listener);
  }

  /** Resume is promised only from now on for a recreated envelope subscription; listeners of onGap are told. */
  private reopened(slot: SubscriptionSlot): void {
    if (!slot.entry) return;
    this.completeSinceMs = Math.max(this.completeSinceMs, slot.activeSince + this.cfg.clockSkewMs);
    for (const l of this.gapListeners) l(this.completeSinceMs);
  }

  status(): PubSubConsumerStatus {
    const slots = this.subscriptions.slots;
    const degraded = this.state === 'running' && slots.some((s) => s.state !== 'active');
    const latest = this.delivery.latestCard;
    return {
      kind: this.kind,
      state: degraded ? 'degraded' : this.state,
      instanceId: this.instanceId,
      lag: this.delivery.lag.summary(),
      ...this.counts,
      completeSince: this.completeSinceMs ? new Date(this.completeSinceMs).toISOString() : null,
      dayCardFetchedAt: latest ? new Date(latest.fetchedAt).toISOString() : null,
      dedupeWindow: { size: this.delivery.seen.size, capacity: this.delivery.seen.capacity },
      // Held unacked now, across subscriptions; each subscription holds at most maxOutstandingPerSubscription.
      outstanding: this.delivery.outstanding(),
      maxOutstandingPerSubscription: this.cfg.maxMessages,
      subscriptions: slots.map((s) => {
        const t = this.delivery.tally(s);
        return {
          topic: s.topic,
          name: s.name,
          state: s.state,
          seek: s.seek,
          seekTarget: s.seekTarget === null ? null : new Date(s.seekTarget).toISOString(),
          received: t.received,
          outstanding: t.outstanding,
          outstandingPeak: t.outstandingPeak,
          lastMessageAt: t.lastMessageAt === null ? null : new Date(t.lastMessageAt).toISOString(),
          // Public: the gRPC text can name the project; the code and a short head of it are enough to act on.
          lastError: s.lastError === null ? null : redactProject(s.lastError, this.opts.config.projectId),
        };
      }),
    };
  }

  /**
   * Stops pulling and deletes this instance's subscriptions, all within one
   * deadline (the SIGTERM path: Cloud Run allows 10 s in all). Safe during
   * start(): what was created by then is deleted.
   */
  async close(deadline = Date.now() + this.cfg.deleteTimeoutMs): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.delivery.clearListeners();
    this.gapListeners.clear();
    this.subscriptions.halt();
    await settlesBy(this.creating, Date.now() + (deadline - Date.now()) / 3);
    // Pulling stops at once; the close itself is bounded by closeOptions and by half of what is left.
    await settlesBy(this.subscriptions.stopPulling(), Date.now() + (deadline - Date.now()) / 2);
    await this.subscriptions.deleteAll(deadline);
    await settlesBy(this.pubsub.close(), Math.max(deadline, Date.now() + 100));
    this.state = 'closed';
    this.opts.log.info('pubsub consumer closed', { instanceId: this.instanceId });
  }
}

function redactProject(text: string, projectId: string | undefined): string {
  const cut = text.slice(0, 200);
  return projectId ? cut.split(projectId).join('<project>') : cut;
}
