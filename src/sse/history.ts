import { uuidv7Time } from '../envelope/uuidv7.js';
import type { SseFrame } from './frame.js';

/** One delivered event as kept for resume: the frame is the same buffer every client was sent. */
export interface HistoryItem {
  readonly id: string;
  readonly type: string;
  readonly productId: string | undefined;
  readonly eventId: string | undefined;
  readonly frame: SseFrame;
}

export type ResumeResult =
  | { readonly ok: true; readonly items: readonly HistoryItem[] }
  | {
      readonly ok: false;
      readonly reason: 'too-old' | 'unknown-id';
      readonly oldestEventId: string | null;
    };

/**
 * The recent events, oldest first, bounded by count and by bytes. At either
 * limit the oldest events are dropped; a client whose Last-Event-ID has been
 * dropped is told it is too old (and refetches /snapshot) instead of getting
 * a silent gap.
 *
 * Ids are UUIDv7 from the subscriber, so string order is time order. That
 * lets an instance resume a client that was streaming from another instance:
 * both hold the same ids, and each streams them in id order (the hub's
 * ReorderWindow), so what the client lacks is every later id. Resume sends
 * those, and also whatever arrived here after the id (a message late here
 * was most likely late everywhere, and so not yet sent to the client), at the
 * price of a rare duplicate (clients drop repeats by id).
 *
 * That only holds for ids stamped after this instance had every message:
 * its subscriptions are created at slightly different instants, and during a
 * backlog publish order differs from id order. So an id not held here and
 * stamped before `completeSince` is answered too-old, never with a guess.
 */
export class History {
  private readonly ring: (HistoryItem | undefined)[];
  private head = 0;
  private count = 0;
  private totalBytes = 0;
  /** Sequence number of each id; position = seq - firstSeq. */
  private readonly seqOf = new Map<string, number>();
  private firstSeq = 0;
  /** Epoch ms from which this instance has every message (see markCompleteSince). */
  private complete = 0;
  /**
   * The largest id dropped so far. Arrival order is not id order (a backlog
   * after a seek, a late message), so the oldest held is not the bound: a
   * client whose id is below this may be owed an event no longer held.
   */
  private evictedMax = '';

  constructor(
    readonly maxEvents: number,
    readonly maxBytes: number,
  ) {
    if (maxEvents < 1 || maxBytes < 1) throw new RangeError('history limits must be at least 1');
    this.ring = new Array(maxEvents);
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** From `at` (epoch ms) on this instance has every message; only moves forward (a gap moves it). */
  markCompleteSince(at: number): void {
    this.complete = Math.max(this.complete, at);
  }

  get completeSince(): number {
    return this.complete;
  }

  has(id: string): boolean {
    return this.seqOf.has(id);
  }

  private at(pos: number): HistoryItem {
    return this.ring[(this.head + pos) % this.maxEvents]!;
  }

  oldestId(): string | null {
    return this.count ? this.at(0).id : null;
  }

  newestId(): string | null {
    return this.count ? this.at(this.count - 1).id : null;
  }

  push(item: HistoryItem): void {
    if (this.count === this.maxEvents) this.dropOldest();
    this.ring[(this.head + this.count) % this.maxEvents] = item;
    this.seqOf.set(item.id, this.firstSeq + this.count);
    this.count++;
    this.totalBytes += item.frame.length;
    // A single frame larger than the byte budget still stays (alone), so the newest event is always resumable.
    while (this.totalBytes > this.maxBytes && this.count > 1) this.dropOldest();
  }

  private dropOldest(): void {
    const old = this.ring[this.head]!;
    this.ring[this.head] = undefined;
    this.seqOf.delete(old.id);
    if (old.id > this.evictedMax) this.evictedMax = old.id;
    this.totalBytes -= old.frame.length;
    this.head = (this.head + 1) % this.maxEvents;
    this.count--;
    this.firstSeq++;
  }

  /** Events a client that last saw `lastId` has missed. */
  since(lastId: string): ResumeResult {
    const oldest = this.oldestId();
    const seq = this.seqOf.get(lastId);
    if (lastId < this.evictedMax) return { ok: false, reason: 'too-old', oldestEventId: oldest };
    if (seq === undefined) {
      const stamped = uuidv7Time(lastId);
      if (stamped === undefined) return { ok: false, reason: 'unknown-id', oldestEventId: oldest };
      // Stamped before this instance had every message: events may be missing. One stamped after is
      // owed only later ids, and none of those was dropped (evictedMax above), even when the history
      // is empty or starts later: a fresh instance whose replayed backlog is still arriving.
      if (stamped < this.complete) return { ok: false, reason: 'too-old', oldestEventId: oldest };
    }
    const pos = seq === undefined ? -1 : seq - this.firstSeq;
    const items: HistoryItem[] = [];
    for (let i = 0; i < this.count; i++) {
      const item = this.at(i);
      if (i > pos && seq !== undefined) items.push(item);
      else if (item.id > lastId) items.push(item);
    }
    return { ok: true, items };
  }
}
