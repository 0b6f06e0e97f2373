import { PubSub, type Message, type Subscription, type Topic } from '@google-cloud/pubsub';
import { Counter, Gauge, Registry } from 'prom-client';
import { deadLetterAttributes } from '../bus/attributes.js';
import { LatencyWindow } from '../bus/latency.js';
import type { EnvelopeListener } from '../bus/types.js';
import { CATALOG, DEAD_LETTER_TOPIC, type CatalogEntry } from '../catalog/catalog.js';
import type { BusConfig } from '../config/bus.js';
import type { ConsumerConfig, SseConfig } from '../config/sse.js';
import { makeDeadLetter, type DeadLetterReason } from '../envelope/envelope.js';
import type { Logger } from '../log/logger.js';
import { decodeMessage } from './decode.js';
import { RecentIds } from './recent-ids.js';
import type { ReportingSource, SourceState, SourceStatus } from './source-status.js';
import { subscriptionNameFor } from './subscription-name.js';

/** gRPC status codes the consumer reacts to. */
const ALREADY_EXISTS = 6;
const NOT_FOUND = 5;

export interface PubSubConsumerOptions {
  /** Project, emulator host and whether to create missing topics (the emulator; in the cloud they come from infra). */
  readonly config: BusConfig;
  /** The SSE instance's id (names its subscriptions) and the consumer's own options. */
  readonly sse: Pick<SseConfig, 'instanceId' | 'consumer'>;
  readonly log: Logger;
  /** Defaults to every catalog entry. */
  readonly entries?: readonly CatalogEntry[];
}

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
  readonly entry: CatalogEntry;
  readonly name: string;
  sub: Subscription | undefined;
  state: SubState;
  received: number;
  lastMessageAt: number | null;
  lastError: string | null;
  reopenTimer: NodeJS.Timeout | undefined;
}

/**
 * Reads every catalog topic into in-process listeners: the Pub/Sub side of
 * the SSE service.
 *
 * Broadcast, not load-split: each instance creates its own subscription per
 * topic (`sse-<instanceId>-<topic>`) at start, with the minimum retention and
 * a one-day expiration as the backstop for a crash, and deletes them on
 * close(). A shared subscription would split the stream between instances.
 *
 * Each message is acked once every listener has it (the hub only queues, so
 * that is microseconds). Flow control bounds what the client holds per
 * subscription; at the bound it stops pulling. Redeliveries are dropped by
 * envelope id (bounded); undecodable messages are counted, logged and
 * dead-lettered, then acked, since a redelivery would not fix them.
 */
export class PubSubConsumer implements ReportingSource {
  readonly kind = 'pubsub';
  private readonly pubsub: PubSub;
  private readonly slots: Slot[];
  private readonly listeners = new Set<EnvelopeListener>();
  private readonly seen: RecentIds;
  private readonly lag = new LatencyWindow();
  private state: SourceState = 'starting';
  private attached = false;
  private deadLetterTopic: Topic | undefined;
  readonly metricsRegistry = new Registry();
  private readonly messages: Counter<'outcome'>;
  readonly counts = { delivered: 0, duplicates: 0, invalid: 0, deadLettered: 0, deadLetterFailures: 0, listenerErrors: 0 };

  private readonly cfg: ConsumerConfig;
  private readonly instanceId: string;

  constructor(private readonly opts: PubSubConsumerOptions) {
    this.cfg = opts.sse.consumer;
    this.instanceId = opts.sse.instanceId;
    this.pubsub = new PubSub({
      projectId: opts.config.projectId,
      ...(opts.config.emulatorHost ? { apiEndpoint: opts.config.emulatorHost, emulatorMode: true } : {}),
    });
    this.seen = new RecentIds(this.cfg.dedupeIds);
    this.slots = (opts.entries ?? CATALOG).map((entry) => ({
      entry,
      name: subscriptionNameFor(this.cfg.subscriptionPrefix, this.instanceId, entry.topic),
      sub: undefined,
      state: 'creating' as SubState,
      received: 0,
      lastMessageAt: null,
      lastError: null,
      reopenTimer: undefined,
    }));
    const registers = [this.metricsRegistry];
    this.messages = new Counter({
      name: 'sse_consumer_messages_total',
      help: 'Pub/Sub messages read, by outcome (delivered, duplicate, invalid)',
      labelNames: ['outcome'],
      registers,
    });
    const slots = this.slots;
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

  /** Names of this instance's subscriptions (one per topic). */
  get subscriptionNames(): string[] {
    return this.slots.map((s) => s.name);
  }

  /**
   * Creates this instance's subscriptions. Messages published from now on are
   * kept for it; they are pulled once the first listener subscribes.
   * On failure every subscription already created is deleted again.
   */
  async start(): Promise<void> {
    if (this.opts.config.createTopics) {
      const topics = this.slots.map((s) => s.entry.topic);
      if (this.cfg.deadLetter) topics.push(DEAD_LETTER_TOPIC);
      await Promise.all(topics.map((t) => this.ensureTopic(t)));
    }
    if (this.cfg.deadLetter) this.deadLetterTopic = this.pubsub.topic(DEAD_LETTER_TOPIC);
    const results = await Promise.allSettled(this.slots.map((s) => this.createSubscription(s)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.deleteSubscriptions();
      await this.pubsub.close().catch(() => undefined);
      this.state = 'closed';
      throw failed.reason;
    }
    this.state = 'running';
    this.opts.log.info('pubsub consumer subscriptions created', {
      instanceId: this.instanceId,
      subscriptions: this.slots.length,
    });
    if (this.listeners.size) this.attach();
  }

  private async ensureTopic(name: string): Promise<void> {
    try {
      await this.pubsub.createTopic(name);
    } catch (err) {
      if ((err as { code?: number }).code !== ALREADY_EXISTS) {
        throw new ConsumerStartError(`could not create topic ${name}: ${(err as Error).message}`, name, '', codeOf(err), {
          cause: err,
        });
      }
    }
  }

  private async createSubscription(slot: Slot): Promise<void> {
    const c = this.cfg;
    try {
      await this.pubsub.topic(slot.entry.topic).createSubscription(slot.name, {
        ackDeadlineSeconds: c.ackDeadlineSeconds,
        messageRetentionDuration: { seconds: c.messageRetentionSeconds },
        expirationPolicy: { ttl: { seconds: c.expirationTtlSeconds } },
        enableMessageOrdering: c.ordering,
        labels: { role: 'sse-broadcast' },
      });
    } catch (err) {
      // A restart with the same instance id finds its own subscription: reuse it.
      if (codeOf(err) !== ALREADY_EXISTS) {
        slot.state = 'error';
        slot.lastError = (err as Error).message;
        const hint = codeOf(err) === NOT_FOUND ? ' (topic missing: deploy the infrastructure or set PUBSUB_CREATE_TOPICS)' : '';
        throw new ConsumerStartError(
          `could not create subscription ${slot.name} on ${slot.entry.topic}: ${(err as Error).message}${hint}`,
          slot.entry.topic,
          slot.name,
          codeOf(err),
          { cause: err },
        );
      }
    }
    slot.sub = this.pubsub.subscription(slot.name, {
      flowControl: { maxMessages: c.maxMessages, maxBytes: c.maxBytes, allowExcessMessages: false },
      // One stream per topic is plenty for a few messages a second, and 15 streams per instance, not 75.
      streamingOptions: { maxStreams: 1 },
    });
    slot.state = 'active';
  }

  subscribe(listener: EnvelopeListener): () => void {
    this.listeners.add(listener);
    if (this.state === 'running') this.attach();
    return () => this.listeners.delete(listener);
  }

  private attach(): void {
    if (this.attached) return;
    this.attached = true;
    for (const slot of this.slots) this.listen(slot);
  }

  private listen(slot: Slot): void {
    const sub = slot.sub;
    if (!sub) return;
    sub.on('message', (m: Message) => this.handle(slot, m));
    sub.on('error', (err: Error) => this.onStreamError(slot, err));
  }

  private handle(slot: Slot, m: Message): void {
    slot.received++;
    slot.lastMessageAt = Date.now();
    const decoded = decodeMessage(m.data, m.attributes ?? {}, slot.entry);
    if (!decoded.ok) {
      this.counts.invalid++;
      this.messages.inc({ outcome: 'invalid' });
      this.opts.log.warn('pubsub message refused', {
        subscription: slot.name,
        messageId: m.id,
        reason: decoded.reason,
        detail: decoded.detail,
      });
      this.deadLetter(slot, decoded.reason, decoded.detail, m.data);
      m.ack();
      return;
    }
    const e = decoded.envelope;
    if (!this.seen.add(e.id)) {
      this.counts.duplicates++;
      this.messages.inc({ outcome: 'duplicate' });
      m.ack();
      return;
    }
    const received = Date.parse(e.receivedAt);
    this.lag.record(Math.max(0, Date.now() - received));
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        // One broken listener must not stop the others or wedge the subscription with unacked messages.
        this.counts.listenerErrors++;
        this.opts.log.error('consumer listener failed', { err, envelopeId: e.id });
      }
    }
    this.counts.delivered++;
    this.messages.inc({ outcome: 'delivered' });
    m.ack();
  }

  private deadLetter(slot: Slot, reason: DeadLetterReason, detail: string, data: Buffer): void {
    if (!this.deadLetterTopic) return;
    const d = makeDeadLetter(
      reason,
      detail,
      data.toString('utf8'),
      { source: 'pubsub', protocol: null, connectionId: slot.name, instanceId: this.instanceId },
      slot.entry,
    );
    this.deadLetterTopic
      .publishMessage({ data: Buffer.from(JSON.stringify(d)), attributes: deadLetterAttributes(d) })
      .then(() => {
        this.counts.deadLettered++;
      })
      .catch((err: unknown) => {
        this.counts.deadLetterFailures++;
        this.opts.log.error('dead letter publish failed', { err, deadLetterId: d.id, reason });
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

  /** After a fatal stream error (e.g. the subscription expired or was deleted), recreate it and pull again. */
  private async reopen(slot: Slot): Promise<void> {
    slot.reopenTimer = undefined;
    if (this.state !== 'running') return;
    try {
      await slot.sub?.close();
      slot.sub?.removeAllListeners();
      await this.createSubscription(slot);
      if (this.attached) this.listen(slot);
      slot.lastError = null;
      this.opts.log.notice('pubsub subscription reopened', { subscription: slot.name });
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
      dedupeWindow: { size: this.seen.size, capacity: this.seen.capacity },
      subscriptions: this.slots.map((s) => ({
        topic: s.entry.topic,
        name: s.name,
        state: s.state,
        received: s.received,
        lastMessageAt: s.lastMessageAt === null ? null : new Date(s.lastMessageAt).toISOString(),
        lastError: s.lastError,
      })),
    };
  }

  private async deleteSubscriptions(): Promise<void> {
    const budget = this.cfg.deleteTimeoutMs;
    const deletions = this.slots.map(async (slot) => {
      if (slot.state === 'creating' || (slot.state === 'error' && !slot.sub)) return;
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
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), budget);
    });
    const outcome = await Promise.race([Promise.all(deletions).then(() => 'done' as const), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.opts.log.warn('subscription deletion ran out of time; the rest expire on their own', { budgetMs: budget });
    }
  }

  /** Stops pulling and deletes this instance's subscriptions (SIGTERM path: within Cloud Run's 10 s). */
  async close(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.listeners.clear();
    for (const slot of this.slots) clearTimeout(slot.reopenTimer);
    await Promise.all(
      this.slots.map(async (slot) => {
        slot.sub?.removeAllListeners('message');
        await slot.sub?.close().catch(() => undefined);
      }),
    );
    await this.deleteSubscriptions();
    await this.pubsub.close().catch(() => undefined);
    this.state = 'closed';
    this.opts.log.info('pubsub consumer closed', { instanceId: this.instanceId });
  }
}

function codeOf(err: unknown): number | string | undefined {
  return (err as { code?: number | string })?.code;
}
