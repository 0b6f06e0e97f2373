import { Duration, type Message, type PubSub, type Subscription, type Topic } from '@google-cloud/pubsub';
import { Counter, Gauge, Registry } from 'prom-client';
import { deadLetterAttributes } from '../bus/attributes.js';
import { LatencyWindow } from '../bus/latency.js';
import { createPubSub, grpcCode as codeOf, GrpcStatus } from '../bus/pubsub-client.js';
import type { DayCardListener, DayCardSource, EnvelopeListener } from '../bus/types.js';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC, type CatalogEntry } from '../catalog/catalog.js';
import type { BusConfig } from '../config/bus.js';
import type { ConsumerConfig, SseConfig } from '../config/sse.js';
import { settlesBy } from '../deadline/deadline.js';
import { makeDeadLetter, type DeadLetterReason, type Envelope } from '../envelope/envelope.js';
import type { Logger } from '../log/logger.js';
import type { DayCard } from '../day-card/day-card.js';
import { decodeDayCard, decodeMessage } from './decode.js';
import { RecentIds } from '../bus/recent-ids.js';
import type { ReportingSource, SourceState, SourceStatus } from '../bus/source-capabilities.js';
import { seekTarget } from './seek-target.js';
import { subscriptionNameFor } from './subscription-name.js';

const { ALREADY_EXISTS, NOT_FOUND } = GrpcStatus;

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
 * A listener that may take its time: the message stays unacked (outstanding,
 * counted against flow control) until the returned promise settles. A plain
 * EnvelopeListener (the SSE hub, which only queues) returns nothing. A
 * promise that never settles holds its place until the client's maximum
 * lease extension (60 min) gives the message up for redelivery, which the
 * dedupe then drops; a rejection is counted as a listener error and acked.
 */
export type SlowEnvelopeListener = (envelope: Envelope) => void | Promise<void>;

export class ConsumerStartError extends Error {
  constructor(
    message: string,
    readonly topic: string,
    readonly subscription: string,
    readonly code: number | string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ConsumerStartError';
  }
}

type SubState = 'creating' | 'active' | 'error' | 'closed';

interface Slot {
  readonly topic: string;
  /** The catalog entry of an envelope topic; undefined for the day-card topic. */
  readonly entry: CatalogEntry | undefined;
  readonly name: string;
  /** Pulling (a listener of its kind is attached). */
  listening: boolean;
  /** When it last became active (created or recreated), epoch ms. */
  activeSince: number;
  /** Outcome of the last seek back: 'done', 'off', or the failure's gRPC code. */
  seek: 'done' | 'off' | 'pending' | number | string;
  sub: Subscription | undefined;
  state: SubState;
  received: number;
  lastMessageAt: number | null;
  lastError: string | null;
  /** Messages handed to this consumer and not yet acked: at most maxMessages (flow control). */
  outstanding: number;
  /** The most ever outstanding at once, for /status: proof the bound holds. */
  outstandingPeak: number;
  reopenTimer: NodeJS.Timeout | undefined;
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
 * only promised from `completeSince()`: the moment every subscription was
 * active, which moves forward when one had to be recreated (a gap).
 *
 * Each message is acked once every listener has it (the hub only queues, so
 * that is microseconds; a listener returning a promise holds it until that
 * settles). Flow control bounds what the client holds per subscription: at
 * maxMessages unacked it stops handing out messages and pulling, so a slow
 * listener slows the pull instead of growing memory (status: outstanding). Redeliveries are dropped by
 * envelope id (bounded); undecodable messages are counted, logged as a
 * `dead letter` with its reason and dead-lettered, then acked, since a
 * redelivery would not fix them. Of day cards only the latest is kept.
 */
export class PubSubConsumer implements ReportingSource, DayCardSource {
  readonly kind = 'pubsub';
  private readonly pubsub: PubSub;
  private readonly slots: Slot[];
  private readonly listeners = new Set<EnvelopeListener | SlowEnvelopeListener>();
  private readonly cardListeners = new Set<DayCardListener>();
  private readonly gapListeners = new Set<(at: number) => void>();
  private latestCard: { card: DayCard; fetchedAt: number } | null = null;
  private readonly seen: RecentIds;
  private readonly lag = new LatencyWindow();
  private state: SourceState = 'starting';
  private deadLetterTopic: Topic | undefined;
  private deadLettersInFlight = 0;
  private completeSinceMs = 0;
  /** The creations of a start() under way, which a close() must let land before deleting. */
  private creating: Promise<unknown> = Promise.resolve();
  readonly metricsRegistry = new Registry();
  private readonly messages: Counter<'outcome'>;
  readonly counts = {
    delivered: 0,
    duplicates: 0,
    invalid: 0,
    deadLettered: 0,
    deadLetterFailures: 0,
    listenerErrors: 0,
    dayCards: 0,
    staleDayCards: 0,
    seekFailures: 0,
    reopened: 0,
  };

  private readonly cfg: ConsumerConfig;
  private readonly instanceId: string;

  constructor(private readonly opts: PubSubConsumerOptions) {
    this.cfg = opts.sse.consumer;
    this.instanceId = opts.sse.instanceId;
    this.pubsub = createPubSub(opts.config);
    this.seen = new RecentIds(this.cfg.dedupeIds);
    const slot = (topic: string, entry: CatalogEntry | undefined): Slot => ({
      topic,
      entry,
      name: subscriptionNameFor(this.cfg.subscriptionPrefix, this.instanceId, topic),
      listening: false,
      activeSince: 0,
      seek: 'pending',
      sub: undefined,
      state: 'creating' as SubState,
      received: 0,
      lastMessageAt: null,
      lastError: null,
      outstanding: 0,
      outstandingPeak: 0,
      reopenTimer: undefined,
    });
    this.slots = [...(opts.entries ?? CATALOG).map((e) => slot(e.topic, e)), slot(DAY_CARD_TOPIC, undefined)];
    const registers = [this.metricsRegistry];
    this.messages = new Counter({
      name: 'sse_consumer_messages_total',
      help: 'Pub/Sub messages read, by outcome (delivered, duplicate, invalid, day-card)',
      labelNames: ['outcome'],
      registers,
    });
    const slots = this.slots;
    new Gauge({
      name: 'sse_consumer_outstanding_messages',
      help: 'Pub/Sub messages held unacked by this instance (flow control stops pulling at the per-subscription bound)',
      registers,
      collect() {
        this.set(slots.reduce((n, s) => n + s.outstanding, 0));
      },
    });
    new Gauge({
      name: 'sse_consumer_subscriptions',
      help: "This instance's subscriptions, by state",
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const s of ['creating', 'active', 'error', 'closed'] as const) {
          this.set({ state: s }, slots.filter((x) => x.state === s).length);
        }
      },
    });
  }

  /** Names of this instance's subscriptions (one per topic, the day-card topic last). */
  get subscriptionNames(): string[] {
    return this.slots.map((s) => s.name);
  }

  /**
   * Since when (epoch ms) this instance has every message: the latest moment
   * a subscription became active, plus the clock-skew allowance. A client
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
      const topics = this.slots.map((s) => s.topic);
      if (this.cfg.deadLetter) topics.push(DEAD_LETTER_TOPIC);
      await Promise.all(topics.map((t) => this.ensureTopic(t)));
    }
    if (this.cfg.deadLetter) this.deadLetterTopic = this.pubsub.topic(DEAD_LETTER_TOPIC);
    const creating = Promise.allSettled(this.slots.map((s) => this.createSubscription(s)));
    this.creating = creating;
    const results = await creating;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    // A close() that came while creating (SIGTERM during start) owns the clean-up.
    if (this.state !== 'starting') throw new ConsumerStartError('consumer closed while starting', '', '', undefined);
    if (failed) {
      await this.deleteSubscriptions(Date.now() + this.cfg.deleteTimeoutMs);
      await this.pubsub.close().catch(() => undefined);
      this.state = 'closed';
      throw failed.reason;
    }
    this.state = 'running';
    this.completeSinceMs = Math.max(...this.slots.map((s) => s.activeSince)) + this.cfg.clockSkewMs;
    this.opts.log.info('pubsub consumer subscriptions created', {
      instanceId: this.instanceId,
      subscriptions: this.slots.length,
      completeSince: new Date(this.completeSinceMs).toISOString(),
    });
    if (this.listeners.size) this.attach('envelopes');
    if (this.cardListeners.size) this.attach('cards');
  }

  private async ensureTopic(name: string): Promise<void> {
    try {
      await this.pubsub.createTopic(name);
    } catch (err) {
      if (codeOf(err) !== ALREADY_EXISTS) {
        throw new ConsumerStartError(`could not create topic ${name}: ${(err as Error).message}`, name, '', codeOf(err), {
          cause: err,
        });
      }
    }
  }

  private async createSubscription(slot: Slot): Promise<void> {
    const c = this.cfg;
    const isCards = slot.entry === undefined;
    try {
      await this.pubsub.topic(slot.topic).createSubscription(slot.name, {
        ackDeadlineSeconds: c.ackDeadlineSeconds,
        messageRetentionDuration: { seconds: c.messageRetentionSeconds },
        expirationPolicy: { ttl: { seconds: c.expirationTtlSeconds } },
        // Cards are whole replacements compared by fetchedAt: no order needed.
        enableMessageOrdering: c.ordering && !isCards,
        labels: { role: 'sse-broadcast' },
      });
    } catch (err) {
      // A restart with the same instance id finds its own subscription: reuse it.
      if (codeOf(err) !== ALREADY_EXISTS) {
        slot.state = 'error';
        slot.lastError = (err as Error).message;
        const hint = codeOf(err) === NOT_FOUND ? ' (topic missing: deploy the infrastructure or set PUBSUB_CREATE_TOPICS)' : '';
        throw new ConsumerStartError(
          `could not create subscription ${slot.name} on ${slot.topic}: ${(err as Error).message}${hint}`,
          slot.topic,
          slot.name,
          codeOf(err),
          { cause: err },
        );
      }
    }
    const sub = this.pubsub.subscription(slot.name, {
      flowControl: { maxMessages: c.maxMessages, maxBytes: c.maxBytes, allowExcessMessages: false },
      // One stream per topic is plenty for a few messages a second, and 16 streams per instance, not 80.
      streamingOptions: { maxStreams: 1 },
      // Close within the shutdown budget instead of the client's long default wait for acks in flight.
      closeOptions: { behavior: 'NACK', timeout: Duration.from({ milliseconds: Math.max(100, Math.floor(c.deleteTimeoutMs / 2)) }) },
    });
    slot.sub = sub;
    await this.seek(slot, sub);
    slot.activeSince = Date.now();
    slot.state = 'active';
  }

  /** Best effort: a failed seek leaves a subscription that starts now, which completeSince() already assumes. */
  private async seek(slot: Slot, sub: Subscription): Promise<void> {
    if (this.cfg.seekBackMs <= 0) {
      slot.seek = 'off';
      return;
    }
    const target = seekTarget(Date.now(), this.cfg.seekBackMs, this.opts.sse.feedWindow);
    try {
      await sub.seek(new Date(target));
      slot.seek = 'done';
    } catch (err) {
      this.counts.seekFailures++;
      slot.seek = codeOf(err) ?? 'failed';
      this.opts.log.warn('could not seek subscription back; it starts from now', {
        subscription: slot.name,
        target: new Date(target).toISOString(),
        err,
        code: codeOf(err),
      });
    }
  }

  /** A listener returning a promise holds each message until it settles (see SlowEnvelopeListener). */
  subscribe(listener: EnvelopeListener | SlowEnvelopeListener): () => void {
    this.listeners.add(listener);
    if (this.state === 'running') this.attach('envelopes');
    return () => this.listeners.delete(listener);
  }

  /** The latest card at once when one has arrived, then each newer card. */
  subscribeDayCards(listener: DayCardListener): () => void {
    this.cardListeners.add(listener);
    if (this.latestCard) listener(this.latestCard.card);
    if (this.state === 'running') this.attach('cards');
    return () => this.cardListeners.delete(listener);
  }

  /** Starts pulling the topics of one kind; pulling before anyone listens would ack messages into the void. */
  private attach(kind: 'envelopes' | 'cards'): void {
    for (const slot of this.slots) {
      if ((slot.entry === undefined) !== (kind === 'cards') || slot.listening) continue;
      slot.listening = true;
      this.listen(slot);
    }
  }

  private listen(slot: Slot): void {
    const sub = slot.sub;
    if (!sub) return;
    sub.on('message', (m: Message) => {
      slot.outstanding++;
      slot.outstandingPeak = Math.max(slot.outstandingPeak, slot.outstanding);
      if (slot.entry) this.handle(slot, slot.entry, m);
      else this.handleCard(slot, m);
    });
    sub.on('error', (err: Error) => this.onStreamError(slot, err));
  }

  private refuse(slot: Slot, m: Message, reason: DeadLetterReason, detail: string): void {
    this.counts.invalid++;
    this.messages.inc({ outcome: 'invalid' });
    // The log-based dead-letter metric matches this message text for both services.
    this.opts.log.warn('dead letter', { reason, detail, subscription: slot.name, topic: slot.topic, messageId: m.id });
    this.deadLetter(slot, reason, detail, m.data);
    this.ack(slot, m);
  }

  private handle(slot: Slot, entry: CatalogEntry, m: Message): void {
    slot.received++;
    slot.lastMessageAt = Date.now();
    const decoded = decodeMessage(m.data, m.attributes ?? {}, entry);
    if (!decoded.ok) {
      this.refuse(slot, m, decoded.reason, decoded.detail);
      return;
    }
    const e = decoded.envelope;
    if (!this.seen.add(e.id)) {
      this.counts.duplicates++;
      this.messages.inc({ outcome: 'duplicate' });
      this.ack(slot, m);
      return;
    }
    const received = Date.parse(e.receivedAt);
    this.lag.record(Math.max(0, Date.now() - received));
    const slow: Promise<void>[] = [];
    const failed = (err: unknown) => {
      // One broken listener must not stop the others or wedge the subscription with unacked messages.
      this.counts.listenerErrors++;
      this.opts.log.error('consumer listener failed', { err, envelopeId: e.id });
    };
    for (const l of this.listeners) {
      try {
        const r = l(e);
        if (r && typeof r.then === 'function') slow.push(r.catch(failed));
      } catch (err) {
        failed(err);
      }
    }
    this.counts.delivered++;
    this.messages.inc({ outcome: 'delivered' });
    // Acked once every listener has it: a slow listener keeps it outstanding, so flow control stops
    // the pulling at maxMessages instead of the messages piling up in the listener.
    if (slow.length === 0) this.ack(slot, m);
    else void Promise.all(slow).then(() => this.ack(slot, m));
  }

  private ack(slot: Slot, m: Message): void {
    slot.outstanding--;
    m.ack();
  }

  private handleCard(slot: Slot, m: Message): void {
    slot.received++;
    slot.lastMessageAt = Date.now();
    const decoded = decodeDayCard(m.data, m.attributes ?? {});
    if (!decoded.ok) {
      this.refuse(slot, m, decoded.reason, decoded.detail);
      return;
    }
    this.ack(slot, m);
    // A redelivered or replayed older card must not replace a newer one.
    if (this.latestCard && decoded.fetchedAt <= this.latestCard.fetchedAt) {
      this.counts.staleDayCards++;
      return;
    }
    this.latestCard = { card: decoded.card, fetchedAt: decoded.fetchedAt };
    this.counts.dayCards++;
    this.messages.inc({ outcome: 'day-card' });
    for (const l of this.cardListeners) {
      try {
        l(decoded.card);
      } catch (err) {
        this.counts.listenerErrors++;
        this.opts.log.error('day-card listener failed', { err });
      }
    }
  }

  private deadLetter(slot: Slot, reason: DeadLetterReason, detail: string, data: Buffer): void {
    if (!this.deadLetterTopic) return;
    if (this.deadLettersInFlight >= this.cfg.maxDeadLettersInFlight) {
      // The dead-letter topic is not keeping up: the `dead letter` log line above is the record.
      this.counts.deadLetterFailures++;
      return;
    }
    const d = makeDeadLetter(
      reason,
      detail,
      data.toString('utf8'),
      { source: 'pubsub', protocol: null, connectionId: slot.name, instanceId: this.instanceId },
      slot.entry,
    );
    this.deadLettersInFlight++;
    this.deadLetterTopic
      .publishMessage({ data: Buffer.from(JSON.stringify(d)), attributes: deadLetterAttributes(d) })
      .then(() => {
        this.counts.deadLettered++;
      })
      .catch((err: unknown) => {
        this.counts.deadLetterFailures++;
        this.opts.log.error('dead letter publish failed', { err, deadLetterId: d.id, reason });
      })
      .finally(() => {
        this.deadLettersInFlight--;
      });
  }

  private onStreamError(slot: Slot, err: Error): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    slot.state = 'error';
    slot.lastError = err.message;
    this.opts.log.error('pubsub subscription stream failed', { subscription: slot.name, err, code: codeOf(err) });
    if (slot.reopenTimer) return;
    slot.reopenTimer = setTimeout(() => void this.reopen(slot), this.cfg.reopenDelayMs);
    slot.reopenTimer.unref();
  }

  /**
   * After a fatal stream error (e.g. the subscription expired or was deleted),
   * recreate it, seek it back and pull again. Messages in between may be
   * missing (the seek replays them only where the topic retains them), so
   * resume is promised only from now on and listeners of onGap are told.
   */
  private async reopen(slot: Slot): Promise<void> {
    slot.reopenTimer = undefined;
    if (this.state !== 'running') return;
    try {
      await slot.sub?.close();
      slot.sub?.removeAllListeners();
      await this.createSubscription(slot);
      if (slot.listening) this.listen(slot);
      slot.lastError = null;
      this.counts.reopened++;
      this.opts.log.notice('pubsub subscription reopened', { subscription: slot.name });
      if (slot.entry) {
        this.completeSinceMs = Math.max(this.completeSinceMs, slot.activeSince + this.cfg.clockSkewMs);
        for (const l of this.gapListeners) l(this.completeSinceMs);
      }
    } catch (err) {
      this.onStreamError(slot, err as Error);
    }
  }

  status(): SourceStatus {
    const degraded = this.state === 'running' && this.slots.some((s) => s.state !== 'active');
    return {
      kind: this.kind,
      state: degraded ? 'degraded' : this.state,
      instanceId: this.instanceId,
      lag: this.lag.summary(),
      ...this.counts,
      completeSince: this.completeSinceMs ? new Date(this.completeSinceMs).toISOString() : null,
      dayCardFetchedAt: this.latestCard ? new Date(this.latestCard.fetchedAt).toISOString() : null,
      dedupeWindow: { size: this.seen.size, capacity: this.seen.capacity },
      // Held unacked now, across subscriptions; each subscription holds at most maxOutstandingPerSubscription.
      outstanding: this.slots.reduce((n, s) => n + s.outstanding, 0),
      maxOutstandingPerSubscription: this.cfg.maxMessages,
      subscriptions: this.slots.map((s) => ({
        topic: s.topic,
        name: s.name,
        state: s.state,
        seek: s.seek,
        received: s.received,
        outstanding: s.outstanding,
        outstandingPeak: s.outstandingPeak,
        lastMessageAt: s.lastMessageAt === null ? null : new Date(s.lastMessageAt).toISOString(),
        // Public: the gRPC text can name the project; the code and a short head of it are enough to act on.
        lastError: s.lastError === null ? null : redactProject(s.lastError, this.opts.config.projectId),
      })),
    };
  }

  /** Deletes every subscription created, giving up at `deadline` (the rest expire on their own). */
  private async deleteSubscriptions(deadline: number): Promise<void> {
    const deletions = this.slots.map(async (slot) => {
      // By name, whatever its state: one whose creation failed answers NOT_FOUND, which is harmless.
      try {
        await this.pubsub.subscription(slot.name).delete();
      } catch (err) {
        if (codeOf(err) !== NOT_FOUND) {
          this.opts.log.warn('could not delete subscription; it expires on its own', { subscription: slot.name, err });
        }
      } finally {
        slot.state = 'closed';
      }
    });
    const budget = Math.max(0, deadline - Date.now());
    if (!(await settlesBy(Promise.all(deletions), deadline))) {
      this.opts.log.warn('subscription deletion ran out of time; the rest expire on their own', { budgetMs: budget });
    }
  }

  /**
   * Stops pulling and deletes this instance's subscriptions, all within one
   * deadline (the SIGTERM path: Cloud Run allows 10 s in all). Safe during
   * start(): what was created by then is deleted.
   */
  async close(deadline = Date.now() + this.cfg.deleteTimeoutMs): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.listeners.clear();
    this.cardListeners.clear();
    this.gapListeners.clear();
    for (const slot of this.slots) clearTimeout(slot.reopenTimer);
    await settlesBy(this.creating, Date.now() + (deadline - Date.now()) / 3);
    // Pulling stops at once; the close itself is bounded by closeOptions and by half of what is left.
    const closing = Promise.all(
      this.slots.map(async (slot) => {
        slot.sub?.removeAllListeners('message');
        await slot.sub?.close().catch(() => undefined);
      }),
    );
    await settlesBy(closing, Date.now() + (deadline - Date.now()) / 2);
    await this.deleteSubscriptions(deadline);
    await settlesBy(this.pubsub.close(), Math.max(deadline, Date.now() + 100));
    this.state = 'closed';
    this.opts.log.info('pubsub consumer closed', { instanceId: this.instanceId });
  }
}

function redactProject(text: string, projectId: string | undefined): string {
  const cut = text.slice(0, 200);
  return projectId ? cut.split(projectId).join('<project>') : cut;
}
