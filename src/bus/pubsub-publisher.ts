import type { PubSub, Topic } from '@google-cloud/pubsub';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC, entryForMessageType } from '../catalog/catalog.js';
import type { BusConfig } from '../config/bus.js';
import type { DeadLetter, Envelope } from '../envelope/envelope.js';
import type { DayCard } from '../day-card/day-card.js';
import { redact, type Logger } from '../log/logger.js';
import type { Outbox } from '../outbox/types.js';
import { deadLetterAttributes, envelopeAttributes } from './attributes.js';
import { FlowControl } from './flow-control.js';
import { LatencyWindow } from './latency.js';
import { PublishSequence } from './publish-order.js';
import { createPubSub, grpcCode, GrpcStatus } from './pubsub-client.js';
import { RetryLanes, type FailureKind, type OutgoingMessage } from './retry-lanes.js';
import {
  PublishError,
  type DayCardPublisher,
  type BusHealth,
  type DeliveryStatus,
  type EnvelopePublisher,
  type PublishOutcome,
} from './types.js';

/** gRPC status codes that mean the request itself is wrong (besides those in GrpcStatus). */
const INVALID_ARGUMENT = 3;
const OUT_OF_RANGE = 11;
const UNIMPLEMENTED = 12;

/**
 * A failure is the message's own fault only when Pub/Sub says the request is
 * malformed (too large, a bad attribute); every other code, and an error
 * without one, is the service or the network or the set-up (missing topic,
 * permissions), which an operator can fix while we wait: retried, never
 * dead-lettered.
 */
export function classifyPublishError(err: unknown): FailureKind {
  const code = grpcCode(err);
  return code === INVALID_ARGUMENT || code === OUT_OF_RANGE || code === UNIMPLEMENTED ? 'permanent' : 'retry';
}

export interface PubSubPublisherOptions {
  /** Where unconfirmed messages go at close, and are read from at connect. */
  outbox?: Outbox | null;
}

/**
 * Publishes each envelope to its catalog topic, with the entity keys as
 * attributes and the entry's ordering key, batched by the client and bounded
 * by explicit flow control. A publish that fails for any reason but the
 * message's own is retried with backoff until it succeeds or the process
 * closes, when what is left goes to the outbox.
 */
export class PubSubPublisher implements EnvelopePublisher, DayCardPublisher {
  readonly name = 'pubsub';
  private readonly pubsub: PubSub;
  private readonly topics = new Map<string, Topic>();
  private readonly flow: FlowControl;
  private readonly latency = new LatencyWindow();
  /** Numbers every envelope handed over, so SSE instances can stream them without waiting (see PublishOrder). */
  readonly sequence = new PublishSequence();
  private readonly lanes: RetryLanes;
  private readonly missingTopics = new Set<string>();
  private readonly missingLogged = new Map<string, number>();
  private readonly outbox: Outbox | null;
  private lastError: string | null = null;
  private outboxWritten = 0;
  private outboxReplayed = 0;
  private outboxPending = 0;
  private readonly replaying = new Set<Promise<unknown>>();
  private closing = false;
  /** For /ready: a publish failure newer than the last success means the bus is not taking messages. */
  private lastOkAt = 0;
  private lastFailure: { at: number; message: string } | null = null;

  constructor(
    private readonly cfg: BusConfig,
    private readonly log: Logger,
    opts: PubSubPublisherOptions = {},
  ) {
    this.pubsub = createPubSub(cfg);
    this.flow = new FlowControl(cfg.maxOutstandingMessages, cfg.maxOutstandingBytes);
    this.outbox = opts.outbox ?? null;
    this.lanes = new RetryLanes({
      attempt: (m, done) => this.attempt(m, done),
      classify: classifyPublishError,
      released: (_m, bytes) => {
        if (bytes >= 0) this.flow.release(bytes);
      },
      failure: (m, err) => {
        const code = (err as { code?: number | string }).code;
        return new PublishError(`publish to ${m.topic} failed: ${redact((err as Error).message)}`, m.topic, m.id, m.orderingKey, code, {
          cause: err,
        });
      },
      beforeRetry: (lane, err) => this.beforeRetry(lane.topic, lane.orderingKey, err),
      onRetrying: (m, err, attempt, delayMs) => {
        this.lastError = redact((err as Error)?.message ?? String(err));
        this.lastFailure = { at: Date.now(), message: this.lastError };
        if (attempt === 1 || attempt % 10 === 0) {
          this.log.warn('publish failed; retrying', {
            topic: m.topic,
            orderingKey: m.orderingKey,
            attempt,
            delayMs,
            error: this.lastError,
          });
        }
      },
      minDelayMs: cfg.retryMinMs,
      maxDelayMs: cfg.retryMaxMs,
    });
  }

  private topic(name: string): Topic {
    let t = this.topics.get(name);
    if (!t) {
      t = this.pubsub.topic(name, {
        messageOrdering: name !== DEAD_LETTER_TOPIC && name !== DAY_CARD_TOPIC && this.cfg.ordering,
        batching: {
          maxMessages: this.cfg.batchMaxMessages,
          maxBytes: this.cfg.batchMaxBytes,
          maxMilliseconds: this.cfg.batchMaxMs,
        },
        gaxOpts: { timeout: this.cfg.publishTimeoutMs },
      });
      this.topics.set(name, t);
    }
    return t;
  }

  async connect(): Promise<void> {
    const names = [...CATALOG.map((e) => e.topic), DEAD_LETTER_TOPIC, DAY_CARD_TOPIC];
    for (const name of names) this.topic(name);
    if (this.cfg.createTopics) for (const name of names) await this.createTopic(name);
    if (this.outbox) await this.replayOutbox(this.outbox);
  }

  /** Creates a topic unless it exists (another instance may create it first). */
  private async createTopic(name: string): Promise<void> {
    const [exists] = await this.pubsub.topic(name).exists();
    if (exists) return;
    try {
      await this.pubsub.createTopic(name);
      this.log.info('created pubsub topic', { topic: name });
    } catch (err) {
      if (grpcCode(err) !== GrpcStatus.ALREADY_EXISTS) throw err;
    }
  }

  /**
   * Hands every message left by earlier shutdowns to the lanes, before any
   * new message, so an ordering key's older messages still go first. A batch
   * is removed once all of it is published.
   */
  private async replayOutbox(outbox: Outbox): Promise<void> {
    const batches = await outbox.pending();
    for (const batch of batches) {
      this.outboxPending += batch.messages.length;
      this.log.notice('publishing messages kept in the outbox at an earlier shutdown', {
        batch: batch.name,
        messages: batch.messages.length,
        outbox: outbox.target,
      });
      const sent = batch.messages.map((m) =>
        this.lanes.send(m).then((outcome) => {
          this.outboxPending--;
          if (outcome === 'published') this.outboxReplayed++;
          return outcome;
        }),
      );
      const p = Promise.all(sent).then(
        async (outcomes) => {
          // Any message outboxed again now sits in a newer batch; this one is done either way.
          await batch.done();
          this.log.info('outbox batch published', { batch: batch.name, published: outcomes.filter((o) => o === 'published').length });
        },
        (err: Error) => this.log.error('outbox message refused by Pub/Sub', { batch: batch.name, error: err.message }),
      );
      this.replaying.add(p);
      void p.finally(() => this.replaying.delete(p));
    }
  }

  // Not async: an async wrapper would add a promise and two turns per message.
  publish(envelope: Envelope): Promise<PublishOutcome> {
    try {
      const entry = entryForMessageType(envelope.type);
      if (!entry) {
        throw new PublishError(`no topic for message type ${envelope.type}`, '', envelope.id, undefined, 'unknown-type');
      }
      const orderingKey = this.cfg.ordering ? envelope.keys[entry.orderingKey] : undefined;
      return this.send(entry.topic, JSON.stringify(envelope), envelopeAttributes(envelope, this.sequence.next()), envelope.id, orderingKey);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async publishDeadLetter(deadLetter: DeadLetter): Promise<PublishOutcome> {
    return this.send(DEAD_LETTER_TOPIC, JSON.stringify(deadLetter), deadLetterAttributes(deadLetter), deadLetter.id, undefined);
  }

  /** The whole card as one message: a few hundred KB for a UK day, far under Pub/Sub's 10 MB. */
  async publishDayCard(card: DayCard): Promise<void> {
    const fetchedAt = new Date().toISOString();
    await this.send(DAY_CARD_TOPIC, JSON.stringify(card), { kind: 'day-card', fetchedAt }, `day-card-${fetchedAt}`, undefined);
  }

  private send(
    topic: string,
    data: string,
    attributes: Record<string, string>,
    id: string,
    orderingKey: string | undefined,
  ): Promise<PublishOutcome> {
    const bytes = Buffer.byteLength(data);
    const m: OutgoingMessage = orderingKey ? { topic, data, attributes, id, orderingKey } : { topic, data, attributes, id };
    // Past close the permits no longer matter: everything goes to the outbox.
    // A held permit travels with the message as its byte count (-1: none) and comes back in `released`.
    if (this.closing) return this.lanes.send(m, -1);
    // Room at once is the common case: no promise for the permit.
    if (this.flow.tryAcquire(bytes)) return this.lanes.send(m, bytes);
    return this.flow.acquire(bytes).then(() => this.lanes.send(m, bytes));
  }

  /** One try, as the lanes ask for it. */
  private attempt(m: OutgoingMessage, done: (err?: unknown) => void): void {
    const started = performance.now();
    // The callback form: the client makes no promise of its own. It copies the message, so the attributes are not.
    this.topic(m.topic).publishMessage(
      m.orderingKey
        ? { data: Buffer.from(m.data), attributes: m.attributes, orderingKey: m.orderingKey }
        : { data: Buffer.from(m.data), attributes: m.attributes },
      (err) => {
        if (err) return done(err);
        this.latency.record(performance.now() - started);
        this.lastOkAt = Date.now();
        if (this.missingTopics.size && this.missingTopics.delete(m.topic)) this.log.notice('pubsub topic is back', { topic: m.topic });
        done();
      },
    );
  }

  private async beforeRetry(topic: string, orderingKey: string | undefined, err: unknown): Promise<void> {
    // A failed ordered publish pauses its key in the client until resumed.
    if (orderingKey) this.topic(topic).resumePublishing(orderingKey);
    if (grpcCode(err) !== GrpcStatus.NOT_FOUND) return;
    this.missingTopics.add(topic);
    if (this.cfg.createTopics) {
      // The emulator forgets its topics on restart; here the service made them, so it makes them again.
      await this.createTopic(topic);
      return;
    }
    // In the cloud topics belong to the infrastructure: say so plainly, once a minute, and keep retrying.
    const last = this.missingLogged.get(topic) ?? 0;
    if (Date.now() - last > 60_000) {
      this.missingLogged.set(topic, Date.now());
      this.log.error('pubsub topic does not exist; messages for it are held and retried (create it with the infrastructure stack)', {
        topic,
      });
    }
  }

  async flush(): Promise<void> {
    await Promise.all([...this.topics.values()].map((t) => t.flush().catch(() => undefined)));
    while (this.lanes.held() > 0 || this.replaying.size > 0) {
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * Stops retrying and hands what Pub/Sub has not confirmed to the outbox,
   * so it is published at the next start instead of lost. Without an outbox
   * those messages are reported as lost in the log.
   */
  async close(): Promise<void> {
    this.closing = true;
    // Sends waiting for room get it, so they reach the lanes and are kept too.
    this.flow.openAll();
    await new Promise((r) => setImmediate(r));
    const unsent = this.lanes.drainUnsent();
    if (unsent.length) {
      if (this.outbox) {
        try {
          await this.outbox.write(unsent.map((u) => u.m));
          this.outboxWritten += unsent.length;
          this.log.notice('unpublished messages kept in the outbox for the next start', {
            messages: unsent.length,
            outbox: this.outbox.target,
          });
          for (const u of unsent) u.settle(true);
        } catch (err) {
          this.log.error('outbox could not be written; unpublished messages are lost', {
            messages: unsent.length,
            error: (err as Error).message,
          });
          for (const u of unsent) u.settle(false, err);
        }
      } else {
        this.log.error('closed with unpublished messages and no outbox; they are lost', { messages: unsent.length });
        for (const u of unsent) u.settle(false, new Error('closed before Pub/Sub confirmed the message, and no outbox is configured'));
      }
    }
    await this.pubsub.close();
  }

  publishLatency() {
    return this.latency.summary();
  }

  publishLatencyHistogram() {
    return this.latency.histogram();
  }

  health(): BusHealth {
    const f = this.lastFailure;
    if (f && f.at >= this.lastOkAt) return { ok: false, detail: `last publish failed ${new Date(f.at).toISOString()}: ${f.message}` };
    return { ok: true, detail: null };
  }

  backlog(): number {
    const o = this.flow.outstanding();
    return o.messages + o.waiting;
  }

  deliveryStatus(): DeliveryStatus {
    const failing = this.lanes.failing();
    return {
      held: this.lanes.held(),
      retryingLanes: failing.length,
      missingTopics: [...this.missingTopics],
      lastError: failing.length ? (failing[0]!.lastError ?? this.lastError) : null,
      outbox: this.outbox
        ? { target: this.outbox.target, written: this.outboxWritten, replayed: this.outboxReplayed, pendingReplay: this.outboxPending }
        : null,
    };
  }
}
