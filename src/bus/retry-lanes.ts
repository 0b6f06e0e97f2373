import { backoffDelay } from '../retry/backoff.js';

/** One message on its way to a topic, in the form that can also be written to an outbox. */
export interface OutgoingMessage {
  readonly topic: string;
  /** UTF-8 JSON text of the envelope, dead letter or day card. */
  readonly data: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly orderingKey?: string;
  /** Envelope or dead-letter id, for logs and errors. */
  readonly id: string;
}

/** How a failed attempt is treated: tried again later, or given up as the message's own fault. */
export type FailureKind = 'retry' | 'permanent';

export interface RetryLanesOptions {
  /** One attempt; rejects with the transport's error. */
  attempt(m: OutgoingMessage): Promise<void>;
  classify(err: unknown): FailureKind;
  /** Called before a lane tries again (e.g. unpause an ordering key, recreate a topic). */
  beforeRetry?(lane: { topic: string; orderingKey: string | undefined }, lastError: unknown): Promise<void>;
  onRetrying?(m: OutgoingMessage, err: unknown, attempt: number, delayMs: number): void;
  /** @default 250 */
  minDelayMs?: number;
  /** @default 10_000 */
  maxDelayMs?: number;
}

interface Item {
  readonly m: OutgoingMessage;
  readonly seq: number;
  resolve(outcome: 'published' | 'outboxed'): void;
  reject(err: unknown): void;
}

interface Lane {
  readonly topic: string;
  readonly orderingKey: string | undefined;
  /** Messages waiting for the lane's next retry, in the order they were first handed over. */
  readonly waiting: Item[];
  /** Handed to the transport and not yet answered. */
  readonly inFlight: Set<Item>;
  retrying: boolean;
  failures: number;
  timer: NodeJS.Timeout | null;
  lastError: unknown;
}

/**
 * Publishes each message until the transport takes it, however long an outage
 * lasts. Messages are grouped in lanes (one per topic and ordering key): while
 * a lane is failing, its new messages queue behind the failed ones and the lane
 * retries them together, in their first order, after a backoff. So an outage
 * costs one probe per lane per backoff, not one call per message, and an
 * ordering key keeps its order across the outage.
 *
 * Memory is bounded by the caller, which holds a flow-control permit for each
 * message until its promise settles; `unsent()` hands everything still held
 * to an outbox at shutdown.
 */
export class RetryLanes {
  private readonly lanes = new Map<string, Lane>();
  private seq = 0;
  private closed = false;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly opts: RetryLanesOptions) {
    this.minDelayMs = opts.minDelayMs ?? 250;
    this.maxDelayMs = opts.maxDelayMs ?? 10_000;
  }

  /** Resolves when the transport has the message; rejects only for a permanent failure. */
  send(m: OutgoingMessage): Promise<'published' | 'outboxed'> {
    return new Promise<'published' | 'outboxed'>((resolve, reject) => {
      const item: Item = { m, seq: this.seq++, resolve, reject };
      const lane = this.lane(m.topic, m.orderingKey);
      if (lane.retrying || this.closed) lane.waiting.push(item);
      else this.fire(lane, item);
    });
  }

  private lane(topic: string, orderingKey: string | undefined): Lane {
    let lane = this.lanes.get(laneName(topic, orderingKey));
    if (!lane) {
      lane = { topic, orderingKey, waiting: [], inFlight: new Set(), retrying: false, failures: 0, timer: null, lastError: null };
      this.lanes.set(key(lane), lane);
    }
    return lane;
  }

  private fire(lane: Lane, item: Item): void {
    lane.inFlight.add(item);
    let attempt: Promise<void>;
    try {
      attempt = this.opts.attempt(item.m);
    } catch (err) {
      attempt = Promise.reject(err);
    }
    attempt.then(
      () => {
        lane.inFlight.delete(item);
        item.resolve('published');
        this.settled(lane);
      },
      (err: unknown) => {
        lane.inFlight.delete(item);
        if (this.opts.classify(err) === 'permanent') {
          item.reject(err);
          this.settled(lane);
          return;
        }
        lane.lastError = err;
        insertInOrder(lane.waiting, item);
        if (!lane.retrying) {
          lane.retrying = true;
          lane.failures = 0;
        }
        this.settled(lane);
      },
    );
  }

  /** After each answer: when nothing of a failing lane is still out, schedule its next try. */
  private settled(lane: Lane): void {
    if (!lane.retrying) {
      if (!lane.inFlight.size && !lane.waiting.length) this.forget(lane);
      return;
    }
    if (lane.inFlight.size || lane.timer || this.closed) return;
    if (!lane.waiting.length) {
      lane.retrying = false;
      lane.failures = 0;
      this.forget(lane);
      return;
    }
    const delay = backoffDelay(lane.failures, this.minDelayMs, this.maxDelayMs);
    this.opts.onRetrying?.(lane.waiting[0]!.m, lane.lastError, lane.failures + 1, delay);
    lane.failures++;
    lane.timer = setTimeout(() => void this.retry(lane), delay);
  }

  /** Idle lanes are dropped, so their number follows the keys in use, not every key ever seen. */
  private forget(lane: Lane): void {
    if (this.lanes.get(key(lane)) === lane) this.lanes.delete(key(lane));
  }

  private async retry(lane: Lane): Promise<void> {
    lane.timer = null;
    if (this.closed) return;
    try {
      await this.opts.beforeRetry?.({ topic: lane.topic, orderingKey: lane.orderingKey }, lane.lastError);
    } catch (err) {
      lane.lastError = err;
    }
    const batch = lane.waiting.splice(0);
    // Handed over in their first order in one turn, so the transport batches
    // them in that order; a failure of one fails those behind it on the same key.
    for (const item of batch) this.fire(lane, item);
    // A lane whose whole batch now succeeds stops retrying in settled().
    if (!batch.length) this.settled(lane);
  }

  /** Lanes failing now, with their waiting count and last error, for /status. */
  failing(): { topic: string; orderingKey: string | null; waiting: number; failures: number; lastError: string }[] {
    const out = [];
    for (const l of this.lanes.values()) {
      if (!l.retrying) continue;
      out.push({
        topic: l.topic,
        orderingKey: l.orderingKey ?? null,
        waiting: l.waiting.length + l.inFlight.size,
        failures: l.failures,
        lastError: l.lastError instanceof Error ? l.lastError.message : String(l.lastError),
      });
    }
    return out;
  }

  /** Whether `drainUnsent` has been called: later messages wait for the next drain. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Messages held (waiting or out with the transport). */
  held(): number {
    let n = 0;
    for (const l of this.lanes.values()) n += l.waiting.length + l.inFlight.size;
    return n;
  }

  /**
   * Stops retrying and returns every message not yet confirmed, in first
   * order per lane, for an outbox. Their promises are settled by `settle`
   * (true: resolved as handed over; false: rejected with `reason`). A message
   * still out with the transport is included: it may also arrive, which a
   * consumer that drops repeated ids absorbs.
   */
  drainUnsent(): { m: OutgoingMessage; settle(handedOver: boolean, reason?: unknown): void }[] {
    this.closed = true;
    const out: { m: OutgoingMessage; settle(handedOver: boolean, reason?: unknown): void }[] = [];
    for (const lane of this.lanes.values()) {
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = null;
      const items = [...lane.inFlight, ...lane.waiting].sort((a, b) => a.seq - b.seq);
      lane.inFlight.clear();
      lane.waiting.length = 0;
      for (const item of items) out.push({ m: item.m, settle: (ok, reason) => (ok ? item.resolve('outboxed') : item.reject(reason)) });
    }
    this.lanes.clear();
    return out;
  }
}

function laneName(topic: string, orderingKey: string | undefined): string {
  return `${topic}\u0000${orderingKey ?? ''}`;
}

function key(lane: Lane): string {
  return laneName(lane.topic, lane.orderingKey);
}

function insertInOrder(items: Item[], item: Item): void {
  let i = items.length;
  while (i > 0 && items[i - 1]!.seq > item.seq) i--;
  items.splice(i, 0, item);
}
