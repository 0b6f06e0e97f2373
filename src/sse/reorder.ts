import type { PublishOrder } from '../bus/publish-order.js';

/**
 * Puts the events of this instance's subscriptions back in id order, so
 * that every instance streams the feed in the same order, and streams each
 * one as soon as nothing with a smaller id can still be on the way.
 *
 * Why the order matters: ids are UUIDv7 stamped by the one subscriber
 * holding the lease, so id order is the order Tote's messages were
 * received. Each SSE instance reads every topic through its own
 * subscriptions, and messages of different ordering keys (a product, a
 * race) reach two instances in different orders. A stream resumed on
 * another instance with its Last-Event-ID is answered with "every event
 * with a later id" (see History.since); that is exact only if the instance
 * the browser left had streamed in id order.
 *
 * How long an event waits:
 * - With its publisher's session and number (PublishOrder), once every
 *   smaller number of that session has arrived it is streamed at once: the
 *   normal case, no wait at all. Behind a gap it is held until the gap
 *   fills (`gapWaits`), or until it has waited `windowMs`, when it is
 *   streamed through the gap (`gapTimeouts`; a number whose publish failed
 *   for good leaves such a gap).
 * - The shortcut holds only while one session is all that arrives. A
 *   session seen for the first time while another was seen in the last
 *   OTHER_SESSION_RECENT_MS (a subscriber handing over: the older holder's
 *   messages may still be in flight), messages without a number (older
 *   publishers) and two sessions interleaving all mean another source may
 *   still deliver smaller ids, so for `windowMs` after such an arrival every
 *   event waits out the time window, as before: held `windowMs` after it
 *   arrived and released in id order.
 * - A session seen first with no other one about (the day's first
 *   connection, this instance starting) is counted from number 1, since
 *   every session numbers from 1: a session that began while this instance
 *   was running streams at once from its first message, and one that this
 *   instance joined part way waits behind the numbers it never saw until the
 *   window runs out, once (those are not counted as gap timeouts).
 *
 * A message arriving after a larger id was streamed (`late`) is streamed at
 * once, out of order, and counted: a browser that moved to another instance
 * before it arrived here may miss it there (the limit documented in
 * docs/guarantee.md). Duplicates never get here: the consumer and the hub
 * drop repeated ids first.
 *
 * Bounded: at `maxHeld` events the oldest ids are released early (counted
 * in `forced`), so a flood costs order, never memory; sessions are kept for
 * at most MAX_SESSIONS publishers, the least recently seen forgotten first
 * (a forgotten one that returns is treated as new).
 */
export class ReorderWindow<T> {
  /** Held items sorted by id (arrivals are nearly in order, so inserts land near the end). */
  private held: Held<T>[] = [];
  /** Arrival order: each held id with the instant it is due. */
  private due: { id: string; at: number }[] = [];
  private dueHead = 0;
  private readonly heldIds = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** The largest id released so far: anything smaller arriving now is late. */
  private released = '';
  private readonly sessions = new Map<string, Session>();
  /** The session of the latest arrival ('' for one without a number). */
  private lastSource: string | undefined;
  private lastSourceAt = 0;
  /** Until then more than one source is live, and every event waits out the window. */
  private mixedUntil = 0;
  readonly counts = {
    /** Events that waited here (for a gap, or for the window). */
    held: 0,
    late: 0,
    forced: 0,
    /** Streamed before their window ran out because every smaller number of their session had arrived. */
    inSequence: 0,
    /** Events that arrived behind a missing number of their session and were held for it. */
    gapWaits: 0,
    /** Missing numbers given up on when the window ran out or the bound forced a release (the events behind them were then streamed). */
    gapTimeouts: 0,
  };

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

  /** Publisher sessions known here. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  has(id: string): boolean {
    return this.heldIds.has(id);
  }

  /** The largest id released so far ('' before the first, and always with the window off). */
  get releasedMax(): string {
    return this.released;
  }

  push(id: string, item: T, order?: PublishOrder): void {
    if (this.windowMs <= 0) {
      this.release(item, false);
      return;
    }
    const now = this.now();
    const session = this.noteSource(order, now);
    const h: Held<T> = { id, item, session, seq: order?.seq ?? 0 };
    if (id < this.released) {
      this.counts.late++;
      this.emit(h, true);
      return;
    }
    if (session) {
      if (session.frontier === undefined || h.seq > session.frontier) session.arrived.add(h.seq);
      extend(session);
    }
    if (this.held.length === 0 && this.ready(h, now)) {
      this.counts.inSequence++;
      this.emit(h, false);
      return;
    }
    if (session?.frontier !== undefined && h.seq > session.frontier && this.sole(session, now)) this.counts.gapWaits++;
    let i = this.held.length;
    while (i > 0 && this.held[i - 1]!.id > id) i--;
    this.held.splice(i, 0, h);
    this.heldIds.add(id);
    this.counts.held++;
    this.due.push({ id, at: now + this.windowMs });
    if (this.held.length > this.maxHeld) {
      this.counts.forced++;
      this.releaseThrough(this.held[0]!.id, now);
    } else {
      this.drain(now);
    }
    this.schedule();
  }

  /** Records where an arrival came from; a change of source starts a stretch in which only the window orders. */
  private noteSource(order: PublishOrder | undefined, now: number): Session | undefined {
    const key = order?.session ?? '';
    // Two sources within one window: either may still deliver ids smaller than the other's.
    if (this.lastSource !== undefined && key !== this.lastSource && now - this.lastSourceAt < this.windowMs) {
      this.mixedUntil = now + this.windowMs;
    }
    this.lastSource = key;
    this.lastSourceAt = now;
    if (!order) return undefined;
    let s = this.sessions.get(key);
    if (!s) {
      if (this.sessions.size >= MAX_SESSIONS) this.forgetOldestSession();
      const alone = ![...this.sessions.values()].some((o) => now - o.lastSeenAt < OTHER_SESSION_RECENT_MS);
      s = { key, firstSeenAt: now, lastSeenAt: now, frontier: alone ? 0 : undefined, alone, streamed: false, arrived: new Set() };
      this.sessions.set(key, s);
    }
    s.lastSeenAt = now;
    return s;
  }

  private forgetOldestSession(): void {
    let oldest: Session | undefined;
    for (const s of this.sessions.values()) if (!oldest || s.lastSeenAt < oldest.lastSeenAt) oldest = s;
    if (oldest) this.sessions.delete(oldest.key);
  }

  /** Only one session is arriving, it has been seen for a whole window, and we know where its numbers stand. */
  private sole(s: Session, now: number): boolean {
    return this.lastSource === s.key && now >= this.mixedUntil && (s.alone || now >= s.firstSeenAt + this.windowMs);
  }

  private ready(h: Held<T>, now: number): boolean {
    const s = h.session;
    return s !== undefined && s.frontier !== undefined && h.seq <= s.frontier && this.sole(s, now);
  }

  /** Streams one item and moves its session's frontier past it (through a gap, when the window closed it). */
  private emit(h: Held<T>, late: boolean): void {
    if (h.id > this.released) this.released = h.id;
    const s = h.session;
    if (s) {
      s.arrived.delete(h.seq);
      if (s.frontier === undefined || h.seq > s.frontier) {
        // Before its first event streamed, a missing start is numbers this instance never had to see.
        if (s.frontier !== undefined && s.streamed) this.counts.gapTimeouts += h.seq - s.frontier - 1;
        s.frontier = h.seq;
        extend(s);
      }
      s.streamed = true;
    }
    this.release(h.item, late);
  }

  /** Streams held items from the smallest id for as long as each is ready by its sequence. */
  private drain(now: number): void {
    for (;;) {
      let n = 0;
      while (n < this.held.length && this.ready(this.held[n]!, now)) n++;
      if (n === 0) return;
      const out = this.held.splice(0, n);
      for (const h of out) {
        this.heldIds.delete(h.id);
        this.counts.inSequence++;
        this.emit(h, false);
      }
    }
  }

  /** Releases every held item with an id up to `id`, smallest first, then whatever that made ready. */
  private releaseThrough(id: string, now: number): void {
    let n = 0;
    while (n < this.held.length && this.held[n]!.id <= id) n++;
    if (n > 0) {
      const out = this.held.splice(0, n);
      for (const h of out) this.heldIds.delete(h.id);
      for (const h of out) this.emit(h, false);
    }
    this.drain(now);
  }

  private schedule(): void {
    if (this.timer) return;
    while (this.dueHead < this.due.length && !this.heldIds.has(this.due[this.dueHead]!.id)) this.dueHead++;
    if (this.dueHead >= this.due.length) {
      this.due = [];
      this.dueHead = 0;
      return;
    }
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
      if (this.heldIds.has(id)) this.releaseThrough(id, now);
    }
    // The stretch of mixed sources may have ended since the last arrival.
    this.drain(now);
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
    if (this.held.length) this.releaseThrough(this.held[this.held.length - 1]!.id, this.now());
    this.due = [];
    this.dueHead = 0;
  }
}

/**
 * A new session while another was seen this recently is taken for a handover
 * (or an overlap), whose older messages may still be in flight: it gets the
 * whole window before its numbers are trusted. A lease handover takes
 * seconds (the holder flushes, the next one takes the lease and connects).
 */
const OTHER_SESSION_RECENT_MS = 60_000;

/** Publisher sessions remembered at once: a handful a day (deploys, handovers); the bound is for a misbehaving publisher. */
const MAX_SESSIONS = 64;

interface Session {
  readonly key: string;
  readonly firstSeenAt: number;
  lastSeenAt: number;
  /** Every number up to this has arrived or been given up on; undefined until the first is streamed (0 for a session counted from its start). */
  frontier: number | undefined;
  /** First seen with no other session about: counted from number 1, with no window of its own. */
  readonly alone: boolean;
  /** Whether any of its events has been streamed yet. */
  streamed: boolean;
  /** Numbers past the frontier that have arrived and are held. */
  readonly arrived: Set<number>;
}

interface Held<T> {
  readonly id: string;
  readonly item: T;
  readonly session: Session | undefined;
  readonly seq: number;
}

/** Moves the frontier over numbers that have arrived. */
function extend(s: Session): void {
  if (s.frontier === undefined) return;
  while (s.arrived.delete(s.frontier + 1)) s.frontier++;
}
