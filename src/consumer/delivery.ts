import type { Message, Topic } from '@google-cloud/pubsub';
import { Counter, Gauge, type Registry } from 'prom-client';
import { deadLetterAttributes } from '../bus/attributes.js';
import { LatencyWindow } from '../bus/latency.js';
import type { PublishOrder } from '../bus/publish-order.js';
import { RecentIds } from '../bus/recent-ids.js';
import type { DayCardListener, EnvelopeListener } from '../bus/types.js';
import type { ConsumerConfig } from '../config/sse.js';
import type { DayCard } from '../day-card/day-card.js';
import { makeDeadLetter, type DeadLetterReason, type Envelope } from '../envelope/envelope.js';
import type { Logger } from '../log/logger.js';
import { decodeDayCard, decodeMessage } from './decode.js';
import type { SubscriptionSlot } from './subscriptions.js';

/**
 * A listener that may take its time: the message stays unacked (outstanding,
 * counted against flow control) until the returned promise settles. A plain
 * EnvelopeListener (the SSE hub, which only queues) returns nothing. A
 * promise that never settles holds its place until the client's maximum
 * lease extension (60 min) gives the message up for redelivery, which the
 * dedupe then drops; a rejection is counted as a listener error and acked.
 */
export type SlowEnvelopeListener = (envelope: Envelope, order?: PublishOrder) => void | Promise<void>;

/** What one subscription has delivered. */
export interface DeliveryTally {
  received: number;
  lastMessageAt: number | null;
  /** Publish time (epoch ms) of the newest message pulled, by Pub/Sub's clock. */
  lastPublishedAt: number | null;
  /** Messages handed to this consumer and not yet acked: at most maxMessages (flow control). */
  outstanding: number;
  /** The most ever outstanding at once, for /status: proof the bound holds. */
  outstandingPeak: number;
}

export interface DeliveryCounts {
  delivered: number;
  duplicates: number;
  invalid: number;
  deadLettered: number;
  deadLetterFailures: number;
  listenerErrors: number;
  dayCards: number;
  staleDayCards: number;
}

export interface DeliveryOptions {
  readonly config: ConsumerConfig;
  readonly instanceId: string;
  readonly log: Logger;
  readonly registry: Registry;
}

/**
 * What happens to each pulled message: decoded, dropped if its envelope id
 * was seen (Pub/Sub redelivers), handed to every listener, and acked once
 * every listener has it (the hub only queues, so that is microseconds; a
 * listener returning a promise holds it until that settles, so flow control
 * slows the pull instead of memory growing). Undecodable messages are
 * counted, logged as a `dead letter` with the reason and dead-lettered, then
 * acked: a redelivery would not fix them. Of day cards only the latest is
 * kept, and an older one never replaces a newer one.
 */
export class Delivery {
  readonly listeners = new Set<EnvelopeListener | SlowEnvelopeListener>();
  readonly cardListeners = new Set<DayCardListener>();
  readonly counts: DeliveryCounts = {
    delivered: 0,
    duplicates: 0,
    invalid: 0,
    deadLettered: 0,
    deadLetterFailures: 0,
    listenerErrors: 0,
    dayCards: 0,
    staleDayCards: 0,
  };
  readonly lag = new LatencyWindow();
  readonly seen: RecentIds;
  private latest: { card: DayCard; fetchedAt: number } | null = null;
  private readonly tallies = new Map<string, DeliveryTally>();
  private deadLetterTopic: Topic | undefined;
  private deadLettersInFlight = 0;
  private readonly messages: Counter<'outcome'>;

  constructor(private readonly o: DeliveryOptions) {
    this.seen = new RecentIds(o.config.dedupeIds);
    const registers = [o.registry];
    this.messages = new Counter({
      name: 'sse_consumer_messages_total',
      help: 'Pub/Sub messages read, by outcome (delivered, duplicate, invalid, day-card)',
      labelNames: ['outcome'],
      registers,
    });
    const tallies = this.tallies;
    new Gauge({
      name: 'sse_consumer_outstanding_messages',
      help: 'Pub/Sub messages held unacked by this instance (flow control stops pulling at the per-subscription bound)',
      registers,
      collect() {
        let n = 0;
        for (const t of tallies.values()) n += t.outstanding;
        this.set(n);
      },
    });
  }

  /** Where undecodable messages go; none means they are only logged and counted. */
  deadLetterTo(topic: Topic | undefined): void {
    this.deadLetterTopic = topic;
  }

  /** The latest day card and its publish time (epoch ms), or null before the first. */
  get latestCard(): { readonly card: DayCard; readonly fetchedAt: number } | null {
    return this.latest;
  }

  tally(slot: Pick<SubscriptionSlot, 'name'>): DeliveryTally {
    let t = this.tallies.get(slot.name);
    if (!t) {
      t = { received: 0, lastMessageAt: null, lastPublishedAt: null, outstanding: 0, outstandingPeak: 0 };
      this.tallies.set(slot.name, t);
    }
    return t;
  }

  /** Held unacked now, across subscriptions. */
  outstanding(): number {
    let n = 0;
    for (const t of this.tallies.values()) n += t.outstanding;
    return n;
  }

  /** Forgets every listener: nothing is handed on after this. */
  clearListeners(): void {
    this.listeners.clear();
    this.cardListeners.clear();
  }

  take(slot: SubscriptionSlot, m: Message): void {
    const t = this.tally(slot);
    t.outstanding++;
    t.outstandingPeak = Math.max(t.outstandingPeak, t.outstanding);
    t.received++;
    t.lastMessageAt = Date.now();
    const published = m.publishTime?.getTime();
    if (published !== undefined && Number.isFinite(published)) t.lastPublishedAt = Math.max(t.lastPublishedAt ?? 0, published);
    if (slot.entry) this.envelope(slot, m);
    else this.card(slot, m);
  }

  private envelope(slot: SubscriptionSlot, m: Message): void {
    const decoded = decodeMessage(m.data, m.attributes ?? {}, slot.entry!);
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
      this.o.log.error('consumer listener failed', { err, envelopeId: e.id });
    };
    for (const l of this.listeners) {
      try {
        const r = l(e, decoded.order);
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

  private card(slot: SubscriptionSlot, m: Message): void {
    const decoded = decodeDayCard(m.data, m.attributes ?? {});
    if (!decoded.ok) {
      this.refuse(slot, m, decoded.reason, decoded.detail);
      return;
    }
    this.ack(slot, m);
    // A redelivered or replayed older card must not replace a newer one.
    if (this.latest && decoded.fetchedAt <= this.latest.fetchedAt) {
      this.counts.staleDayCards++;
      return;
    }
    this.latest = { card: decoded.card, fetchedAt: decoded.fetchedAt };
    this.counts.dayCards++;
    this.messages.inc({ outcome: 'day-card' });
    for (const l of this.cardListeners) {
      try {
        l(decoded.card, decoded.fetchedAt);
      } catch (err) {
        this.counts.listenerErrors++;
        this.o.log.error('day-card listener failed', { err });
      }
    }
  }

  private ack(slot: SubscriptionSlot, m: Message): void {
    this.tally(slot).outstanding--;
    m.ack();
  }

  private refuse(slot: SubscriptionSlot, m: Message, reason: DeadLetterReason, detail: string): void {
    this.counts.invalid++;
    this.messages.inc({ outcome: 'invalid' });
    // The log-based dead-letter metric matches this message text for both services.
    this.o.log.warn('dead letter', { reason, detail, subscription: slot.name, topic: slot.topic, messageId: m.id });
    this.deadLetter(slot, reason, detail, m.data);
    this.ack(slot, m);
  }

  private deadLetter(slot: SubscriptionSlot, reason: DeadLetterReason, detail: string, data: Buffer): void {
    if (!this.deadLetterTopic) return;
    if (this.deadLettersInFlight >= this.o.config.maxDeadLettersInFlight) {
      // The dead-letter topic is not keeping up: the `dead letter` log line is the record.
      this.counts.deadLetterFailures++;
      return;
    }
    const d = makeDeadLetter(
      reason,
      detail,
      data.toString('utf8'),
      { source: 'pubsub', protocol: null, connectionId: slot.name, instanceId: this.o.instanceId },
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
        this.o.log.error('dead letter publish failed', { err, deadLetterId: d.id, reason });
      })
      .finally(() => {
        this.deadLettersInFlight--;
      });
  }
}
