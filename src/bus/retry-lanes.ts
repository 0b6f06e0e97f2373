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
  /**
   * One attempt: calls `done` once, with no error when the transport has the
   * message, or with the transport's error. A callback rather than a promise:
   * this runs once per message, and a promise each would be most of the cost.
   */
  attempt(m: OutgoingMessage, done: (err?: unknown) => void): void;
  classify(err: unknown): FailureKind;
  /** Called before a lane tries again (e.g. unpause an ordering key, recreate a topic). */
  beforeRetry?(lane: { topic: string; orderingKey: string | undefined }, lastError: unknown): Promise<void>;
  onRetrying?(m: OutgoingMessage, err: unknown, attempt: number, delayMs: number): void;
  /**
   * Called once per message as its promise settles, however it settles, with
   * the `hold` given to `send` (e.g. a flow-control permit to give back):
   * one call here costs less than a `.then` per message.
   */
  released?(m: OutgoingMessage, hold: number): void;
  /** What a message's promise rejects with, given why it failed (default: that reason itself). */
  failure?(m: OutgoingMessage, err: unknown): unknown;
  /** @default 250 */
  minDelayMs?: number;
  /** @default 10_000 */
  maxDelayMs?: number;
}

interface Item {
  readonly m: OutgoingMessage;
  readonly seq: number;
  readonly hold: number;
  /** Settled: a late answer after the outbox took the message changes nothing. */
  done: boolean;
  resolve(outcome: 'published' | 'outboxed'): void;
  reject(err: unknown): void;
  /** Links in the lane's list of messages out with the transport (answers come back in any order). */
  prev: Item | null;
  next: Item | null;
  /** Inside the transport's attempt() call. */
  firing: boolean;
}

interface Lane {
  readonly topic: string;
  readonly orderingKey: string | undefined;
  /** Messages waiting for the lane's next retry, in the order they were first handed over. */
  readonly waiting: Item[];
  /** Handed to the transport and not yet answered: a linked list, so adding and removing allocate nothing. */
  first: Item | null;
  last: Item | null;
  inFlight: number;
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
 * message until its promise settles; `drainUnsent()` hands everything still
 * held to an outbox at shutdown.
 */
export class RetryLanes {
  /** By topic, then ordering key: no lane name is built per message. */
  private readonly lanes = new Map<string, Map<string | undefined, Lane>>();
  private seq = 0;
  private closed = false;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly opts: RetryLanesOptions) {
    this.minDelayMs = opts.minDelayMs ?? 250;
    this.maxDelayMs = opts.maxDelayMs ?? 10_000;
  }

  /**
   * Resolves when the transport has the message; rejects only for a
   * permanent failure. `hold` is handed back to `released` when it settles.
   */
  send(m: OutgoingMessage, hold = 0): Promise<'published' | 'outboxed'> {
    return new Promise<'published' | 'outboxed'>((resolve, reject) => {
      const item: Item = { m, seq: this.seq++, hold, done: false, resolve, reject, prev: null, next: null, firing: false };
      const lane = this.lane(m.topic, m.orderingKey);
      if (lane.retrying || this.closed) lane.waiting.push(item);
      else this.fire(lane, item);
    });
  }

  private lane(topic: string, orderingKey: string | undefined): Lane {
    let byKey = this.lanes.get(topic);
    if (!byKey) {
      byKey = new Map();
      this.lanes.set(topic, byKey);
    }
    let lane = byKey.get(orderingKey);
    if (!lane) {
      lane = {
        topic,
        orderingKey,
        waiting: [],
        first: null,
        last: null,
        inFlight: 0,
        retrying: false,
        failures: 0,
        timer: null,
        lastError: null,
      };
      byKey.set(orderingKey, lane);
    }
    return lane;
  }

  private fire(lane: Lane, item: Item): void {
    item.prev = lane.last;
    item.next = null;
    if (lane.last) lane.last.next = item;
    else lane.first = item;
    lane.last = item;
    lane.inFlight++;
    // An answer given before attempt() returns (a paused ordering key refuses
    // at once) waits for the end of this turn, so a lane handing over its
    // whole retry batch in one loop sees every answer after the loop. (An
    // inline callback: a named one would get a name set at run time per
    // message by the transpiler.)
    item.firing = true;
    try {
      this.opts.attempt(item.m, (err?: unknown) => {
        if (item.firing) queueMicrotask(() => this.answered(lane, item, err));
        else this.answered(lane, item, err);
      });
    } catch (err) {
      queueMicrotask(() => this.answered(lane, item, err ?? new Error('publish attempt threw')));
    }
    item.firing = false;
  }

  private answered(lane: Lane, item: Item, err: unknown): void {
    if (!this.unlink(lane, item)) {
      // Already handed to the outbox by drainUnsent: a late success still counts as published.
      if (err === undefined || err === null) this.finish(item, 'published');
      return;
    }
    if (err === undefined || err === null) {
      this.finish(item, 'published');
      this.settled(lane);
      return;
    }
    if (this.opts.classify(err) === 'permanent') {
      this.finish(item, null, err);
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
  }

  /** Settles a message's promise once: resolved with `outcome`, or rejected with `err` when it is null. */
  private finish(item: Item, outcome: 'published' | 'outboxed' | null, err?: unknown): void {
    if (item.done) return;
    item.done = true;
    this.opts.released?.(item.m, item.hold);
    if (outcome) item.resolve(outcome);
    else item.reject(this.opts.failure ? this.opts.failure(item.m, err) : err);
  }

  /** Takes an answered item off its lane's in-flight list; false when it is no longer there. */
  private unlink(lane: Lane, item: Item): boolean {
    if (item.prev === null && lane.first !== item) return false;
    if (item.prev) item.prev.next = item.next;
    else lane.first = item.next;
    if (item.next) item.next.prev = item.prev;
    else lane.last = item.prev;
    item.prev = item.next = null;
    lane.inFlight--;
    return true;
  }

  /** After each answer: when nothing of a failing lane is still out, schedule its next try. */
  private settled(lane: Lane): void {
    if (!lane.retrying) {
      if (!lane.inFlight && !lane.waiting.length) this.forget(lane);
      return;
    }
    if (lane.inFlight || lane.timer || this.closed) return;
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
    const byKey = this.lanes.get(lane.topic);
    if (byKey?.get(lane.orderingKey) === lane) byKey.delete(lane.orderingKey);
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

  private *allLanes(): Generator<Lane> {
    for (const byKey of this.lanes.values()) yield* byKey.values();
  }

  /** Lanes failing now, with their waiting count and last error, for /status. */
  failing(): { topic: string; orderingKey: string | null; waiting: number; failures: number; lastError: string }[] {
    const out = [];
    for (const l of this.allLanes()) {
      if (!l.retrying) continue;
      out.push({
        topic: l.topic,
        orderingKey: l.orderingKey ?? null,
        waiting: l.waiting.length + l.inFlight,
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
    for (const l of this.allLanes()) n += l.waiting.length + l.inFlight;
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
    for (const lane of this.allLanes()) {
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = null;
      const items: Item[] = [];
      for (let i = lane.first; i; i = i.next) items.push(i);
      for (let i = lane.first; i;) {
        const next = i.next;
        i.prev = i.next = null;
        i = next;
      }
      lane.first = lane.last = null;
      lane.inFlight = 0;
      items.push(...lane.waiting);
      items.sort((a, b) => a.seq - b.seq);
      lane.waiting.length = 0;
      for (const item of items)
        out.push({ m: item.m, settle: (ok, reason) => (ok ? this.finish(item, 'outboxed') : this.finish(item, null, reason)) });
    }
    this.lanes.clear();
    return out;
  }
}

function insertInOrder(items: Item[], item: Item): void {
  let i = items.length;
  while (i > 0 && items[i - 1]!.seq > item.seq) i--;
  items.splice(i, 0, item);
}
