import type { PubSub, Topic } from '@google-cloud/pubsub';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC, entryForMessageType } from '../catalog/catalog.js';
import type { BusConfig } from '../config/bus.js';
import type { DeadLetter, Envelope } from '../envelope/envelope.js';
import type { DayCard } from '../day-card/day-card.js';
import type { Logger } from '../log/logger.js';
import { deadLetterAttributes, envelopeAttributes } from './attributes.js';
import { FlowControl } from './flow-control.js';
import { createPubSub, grpcCode, GrpcStatus } from './pubsub-client.js';
import { LatencyWindow } from './latency.js';
import { PublishError, type BusHealth, type DayCardPublisher, type EnvelopePublisher } from './types.js';

/**
 * Publishes each envelope to its catalog topic, with the entity keys as
 * attributes and the entry's ordering key, batched by the client and bounded
 * by explicit flow control.
 */
export class PubSubPublisher implements EnvelopePublisher, DayCardPublisher {
  readonly name = 'pubsub';
  private readonly pubsub: PubSub;
  private readonly topics = new Map<string, Topic>();
  private readonly flow: FlowControl;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly latency = new LatencyWindow();
  /** For /ready: a publish failure newer than the last success means the bus is not taking messages. */
  private lastOkAt = 0;
  private lastFailure: { at: number; message: string } | null = null;

  constructor(
    private readonly cfg: BusConfig,
    private readonly log: Logger,
  ) {
    this.pubsub = createPubSub(cfg);
    this.flow = new FlowControl(cfg.maxOutstandingMessages, cfg.maxOutstandingBytes);
  }

  private topic(name: string, ordering: boolean): Topic {
    let t = this.topics.get(name);
    if (!t) {
      t = this.pubsub.topic(name, {
        messageOrdering: ordering,
        batching: {
          maxMessages: this.cfg.batchMaxMessages,
          maxBytes: this.cfg.batchMaxBytes,
          maxMilliseconds: this.cfg.batchMaxMs,
        },
      });
      this.topics.set(name, t);
    }
    return t;
  }

  async connect(): Promise<void> {
    const names = [...CATALOG.map((e) => e.topic), DEAD_LETTER_TOPIC, DAY_CARD_TOPIC];
    for (const e of CATALOG) this.topic(e.topic, this.cfg.ordering);
    this.topic(DEAD_LETTER_TOPIC, false);
    this.topic(DAY_CARD_TOPIC, false);
    if (!this.cfg.createTopics) return;
    for (const name of names) {
      const [exists] = await this.pubsub.topic(name).exists();
      if (exists) continue;
      try {
        await this.pubsub.createTopic(name);
        this.log.info('created pubsub topic', { topic: name });
      } catch (err) {
        if (grpcCode(err) !== GrpcStatus.ALREADY_EXISTS) throw err;
      }
    }
  }

  async publish(envelope: Envelope): Promise<void> {
    const entry = entryForMessageType(envelope.type);
    if (!entry) {
      throw new PublishError(`no topic for message type ${envelope.type}`, '', envelope.id, undefined, 'unknown-type');
    }
    const orderingKey = this.cfg.ordering ? envelope.keys[entry.orderingKey] : undefined;
    await this.send(entry.topic, Buffer.from(JSON.stringify(envelope)), envelopeAttributes(envelope), envelope.id, orderingKey);
  }

  async publishDeadLetter(deadLetter: DeadLetter): Promise<void> {
    await this.send(DEAD_LETTER_TOPIC, Buffer.from(JSON.stringify(deadLetter)), deadLetterAttributes(deadLetter), deadLetter.id, undefined);
  }

  /** The whole card as one message: a few hundred KB for a UK day, far under Pub/Sub's 10 MB. */
  async publishDayCard(card: DayCard): Promise<void> {
    const fetchedAt = new Date().toISOString();
    await this.send(DAY_CARD_TOPIC, Buffer.from(JSON.stringify(card)), { kind: 'day-card', fetchedAt }, `day-card-${fetchedAt}`, undefined);
  }

  private async send(
    topicName: string,
    data: Buffer,
    attributes: Record<string, string>,
    id: string,
    orderingKey: string | undefined,
  ): Promise<void> {
    const topic = this.topic(topicName, topicName !== DEAD_LETTER_TOPIC && topicName !== DAY_CARD_TOPIC && this.cfg.ordering);
    await this.flow.acquire(data.length);
    const started = performance.now();
    const p = topic.publishMessage({ data, attributes, ...(orderingKey ? { orderingKey } : {}) });
    this.inflight.add(p);
    try {
      await p;
      this.latency.record(performance.now() - started);
      this.lastOkAt = Date.now();
    } catch (err) {
      this.lastFailure = { at: Date.now(), message: (err as Error).message };
      // A failed ordered publish pauses its key until resumed; later messages
      // for that product must not be stuck behind one failure.
      if (orderingKey) topic.resumePublishing(orderingKey);
      const code = (err as { code?: number | string }).code;
      throw new PublishError(`publish to ${topicName} failed: ${(err as Error).message}`, topicName, id, orderingKey, code, {
        cause: err,
      });
    } finally {
      this.inflight.delete(p);
      this.flow.release(data.length);
    }
  }

  async flush(): Promise<void> {
    await Promise.all([...this.topics.values()].map((t) => t.flush().catch(() => undefined)));
    await Promise.allSettled([...this.inflight]);
  }

  async close(): Promise<void> {
    await this.flush();
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
}
