import type { DeadLetter, Envelope } from '../envelope/envelope.js';
import type { DayCard } from '../day-card/day-card.js';
import type { PublishOrder } from './publish-order.js';

/**
 * Where the subscriber hands envelopes. Pub/Sub in the cloud, the in-process
 * bus locally. `publish` resolves once the bus has the message (Pub/Sub:
 * acknowledged by the server) and may wait first when the bus is full:
 * that wait is the backpressure.
 */
/**
 * How a publish ended when it did not fail: on the bus, or (at shutdown,
 * the bus still unreachable) written to the outbox for the next start.
 * A publisher that returns nothing means published.
 */
export type PublishOutcome = 'published' | 'outboxed';

export interface EnvelopePublisher {
  readonly name: string;
  /** Called once before the first publish (e.g. create topics on the emulator). */
  connect(): Promise<void>;
  /** Rejects only when the message itself cannot be carried (bad input); an outage is waited out. */
  publish(envelope: Envelope): Promise<void | PublishOutcome>;
  publishDeadLetter(deadLetter: DeadLetter): Promise<void | PublishOutcome>;
  /** Resolves when everything handed over so far is published or has failed. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Messages handed over and not yet confirmed. */
  backlog(): number;
  /** Optional capability: recent publish latency percentiles. */
  publishLatency?(): { p50Ms: number | null; p99Ms: number | null; samples: number };
  /** Optional capability: every publish latency (and its histogram), for /metrics. */
  publishLatencyHistogram?(): LatencyHistogram;
  /** Optional capability: whether the bus is taking messages now (for /ready). */
  health?(): BusHealth;
  /** Optional capability: what is being retried, missing topics, the outbox (for /status). */
  deliveryStatus?(): DeliveryStatus;
}

export interface DeliveryStatus {
  /** Messages held for a retry or awaiting Pub/Sub's answer. */
  held: number;
  /** Topic and ordering-key lanes retrying now. */
  retryingLanes: number;
  /** Topics Pub/Sub says do not exist (infra must create them in the cloud). */
  missingTopics: string[];
  lastError: string | null;
  outbox: { target: string; written: number; replayed: number; pendingReplay: number } | null;
}

export interface BusHealth {
  readonly ok: boolean;
  readonly detail: string | null;
}

/** Cumulative counts per upper bound (seconds), Prometheus-style. */
export interface LatencyHistogram {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** `order` comes with messages read from Pub/Sub that carry it; the in-process bus has one order and passes none. */
export type EnvelopeListener = (envelope: Envelope, order?: PublishOrder) => void;

/** Where the SSE side reads envelopes: the in-process bus or the Pub/Sub consumer. */
export interface EnvelopeSource {
  subscribe(listener: EnvelopeListener): () => void;
}

/** Thrown when a publish fails; carries what the caller needs to decide and report. */
export class PublishError extends Error {
  constructor(
    message: string,
    readonly topic: string,
    readonly envelopeId: string,
    readonly orderingKey: string | undefined,
    readonly code: number | string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PublishError';
  }
}

/** Optional capability of a publisher: carries the day card (names) to the SSE side. */
export interface DayCardPublisher {
  publishDayCard(card: DayCard): Promise<void>;
}

/**
 * `fetchedAt` (epoch ms) is when the subscriber published the card, by its
 * clock: the same for every SSE instance that receives it, so it orders cards
 * across instances and restarts where a per-process counter could not.
 */
export type DayCardListener = (card: DayCard, fetchedAt: number) => void;

/**
 * Optional capability of a source: day cards as the subscriber publishes them.
 * A new listener gets the latest card at once when the source has one.
 */
export interface DayCardSource {
  subscribeDayCards(listener: DayCardListener): () => void;
}

export function canPublishDayCards<T extends object>(p: T): p is T & DayCardPublisher {
  return typeof (p as Partial<DayCardPublisher>).publishDayCard === 'function';
}

export function hasDayCards<T extends object>(s: T): s is T & DayCardSource {
  return typeof (s as Partial<DayCardSource>).subscribeDayCards === 'function';
}
