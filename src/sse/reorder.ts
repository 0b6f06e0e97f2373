/**
 * Holds each event for a short window after it arrives and releases events
 * in id order, so that every instance streams the feed in the same order.
 *
 * Why: ids are UUIDv7 stamped by the one subscriber holding the lease, so
 * id order is the order Tote's messages were received. Each SSE instance
 * reads every topic through its own subscriptions, and messages of different
 * ordering keys (a product, a race) reach two instances in different orders.
 * A stream resumed on another instance with its Last-Event-ID is answered
 * with "every event with a later id" (see History.since); that is exact only
 * if the instance the browser left had streamed in id order. Releasing in id
 * order after `windowMs` makes it so for every message that reaches the
 * instance less than `windowMs` later than a message stamped after it.
 *
 * A message later than that (`late`) is streamed at once, out of order, and
 * counted: a browser that moved to another instance before it arrived here
 * may miss it there (the limit documented in docs/guarantee.md).
 *
 * Bounded: at `maxHeld` events the oldest ids are released early (counted
 * in `forced`), so a flood costs order, never memory.
 */
export class ReorderWindow<T> {
  /** Held items sorted by id (arrivals are nearly in order, so inserts land near the end). */
  private held: { id: string; item: T }[] = [];
  /** Arrival order: each id with the instant it is due. */
  private due: { id: string; at: number }[] = [];
  private dueHead = 0;
  private readonly heldIds = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** The largest id released so far: anything smaller arriving now is late. */
  private released = '';
  readonly counts = { held: 0, late: 0, forced: 0 };

  constructor(
    readonly windowMs: number,
    readonly maxHeld: number,
    /** `late` when the item came after a larger id had been released, so it is out of order. */
    private readonly release: (item: T, late: boolean) => void,
    private readonly now: () => number = Date.now,
  ) {
    if (maxHeld < 1) throw new RangeError('maxHeld must be at least 1');
  }

  get size(): number {
    return this.held.length;
  }

  has(id: string): boolean {
    return this.heldIds.has(id);
  }

  /** The largest id released so far ('' before the first, and always with the window off). */
  get releasedMax(): string {
    return this.released;
  }

  push(id: string, item: T): void {
    if (this.windowMs <= 0) {
      this.release(item, false);
      return;
    }
    if (id < this.released) {
      this.counts.late++;
      this.release(item, true);
      return;
    }
    let i = this.held.length;
    while (i > 0 && this.held[i - 1]!.id > id) i--;
    this.held.splice(i, 0, { id, item });
    this.heldIds.add(id);
    this.counts.held++;
    this.due.push({ id, at: this.now() + this.windowMs });
    if (this.held.length > this.maxHeld) {
      this.counts.forced++;
      this.releaseThrough(this.held[0]!.id);
    }
    this.schedule();
  }

  /** Releases every held item with an id up to `id`, smallest first. */
  private releaseThrough(id: string): void {
    let n = 0;
    while (n < this.held.length && this.held[n]!.id <= id) n++;
    if (n === 0) return;
    const out = this.held.splice(0, n);
    for (const h of out) this.heldIds.delete(h.id);
    if (out[n - 1]!.id > this.released) this.released = out[n - 1]!.id;
    for (const h of out) this.release(h.item, false);
  }

  private schedule(): void {
    if (this.timer || this.dueHead >= this.due.length) return;
    const wait = Math.max(0, this.due[this.dueHead]!.at - this.now());
    this.timer = setTimeout(this.tick, wait);
    this.timer.unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const now = this.now();
    // Each due arrival releases itself and every smaller id that came after it: releasing those early
    // keeps the order, and anything smaller still to come would be late anyway.
    while (this.dueHead < this.due.length && this.due[this.dueHead]!.at <= now) {
      const { id } = this.due[this.dueHead++]!;
      if (this.heldIds.has(id)) this.releaseThrough(id);
    }
    if (this.dueHead > 1024 && this.dueHead * 2 > this.due.length) {
      this.due = this.due.slice(this.dueHead);
      this.dueHead = 0;
    }
    this.schedule();
  };

  /** Releases everything held, in id order (at shutdown, so nothing queued here is dropped silently). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.held.length) this.releaseThrough(this.held[this.held.length - 1]!.id);
    this.due = [];
    this.dueHead = 0;
  }
}
