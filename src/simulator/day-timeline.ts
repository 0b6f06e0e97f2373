/**
 * The whole simulated day as one time-ordered stream of messages, merged
 * lazily from many small streams (one script per race, one per placepot, one
 * pool per product). A stream does no work until its first message is due, so
 * memory holds the open markets only, never the whole day; the same seed gives
 * the same sequence whatever the speed or the order of reads.
 */
import type { DayPlan } from './day-plan.js';
import { MinHeap } from './min-heap.js';
import { poolStream } from './pool-stream.js';
import { placepotLifecycle, raceLifecycle, type TimeText } from './race-lifecycle.js';
import type { TimedMessage } from './timed-message.js';

class Stream {
  private it: Iterator<TimedMessage> | undefined;
  head: TimedMessage | undefined;

  /** `notBefore` is a lower bound of the first message's time, known without starting the stream. */
  constructor(
    readonly order: number,
    private readonly notBefore: number,
    private readonly start: () => Iterator<TimedMessage>,
  ) {}

  get at(): number {
    return this.head ? this.head.at : this.notBefore;
  }

  /** Moves to the next message; false when the stream is finished. */
  pull(): boolean {
    this.it ??= this.start();
    const r = this.it.next();
    this.head = r.done ? undefined : r.value;
    return !r.done;
  }
}

export interface TimelineOptions {
  /** Multiplies the frequency of pool totals and lines (1 = plausible live volume). */
  rate?: number;
  /** How times inside payloads are written; defaults to the simulated time as ISO text. */
  timeText?: TimeText;
}

export class DayTimeline {
  private readonly heap = new MinHeap<Stream>((a, b) => a.at < b.at || (a.at === b.at && a.order < b.order));

  constructor(
    readonly plan: DayPlan,
    opts: TimelineOptions = {},
  ) {
    const rate = opts.rate ?? 1;
    const timeText = opts.timeText ?? ((ms: number) => new Date(ms).toISOString());
    let order = 0;
    for (const meeting of plan.meetings) {
      const pp = meeting.placepot;
      this.heap.push(new Stream(order++, meeting.openAt, () => placepotLifecycle(plan, meeting)));
      for (const race of meeting.races) {
        this.heap.push(new Stream(order++, race.openAt, () => raceLifecycle(plan, race, pp, timeText)));
      }
    }
    for (const product of plan.products) {
      this.heap.push(new Stream(order++, product.openAt, () => poolStream(plan, product, rate)));
    }
  }

  /** The next message, without consuming it; undefined when the day is over. */
  peek(): TimedMessage | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (!top) return undefined;
      if (top.head) return top.head;
      // Not started yet: start it and let it find its place by its real first time.
      this.heap.pop();
      if (top.pull()) this.heap.push(top);
    }
  }

  shift(): TimedMessage | undefined {
    const next = this.peek();
    if (!next) return undefined;
    const top = this.heap.pop()!;
    if (top.pull()) this.heap.push(top);
    return next;
  }

  /** Drops everything due before `simMs` (a clock started mid-day does not replay the morning). */
  skipUntil(simMs: number): number {
    let skipped = 0;
    for (let m = this.peek(); m && m.at < simMs; m = this.peek()) {
      this.shift();
      skipped++;
    }
    return skipped;
  }

  /** Open streams; bounded by the markets open at once. */
  get streams(): number {
    return this.heap.size;
  }
}

/** The first `n` messages of a day, for tests and tools. */
export function firstMessages(timeline: DayTimeline, n: number): TimedMessage[] {
  const out: TimedMessage[] = [];
  while (out.length < n) {
    const m = timeline.shift();
    if (!m) break;
    out.push(m);
  }
  return out;
}
