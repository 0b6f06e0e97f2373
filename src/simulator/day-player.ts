/**
 * Plays the simulated days against the clock: publishes each message of the
 * current day's timeline when its simulated time comes, and when the day is
 * over rolls to the next one (the clock jumps over the night to a minute before
 * the next day's first market opens), so a long-running simulator keeps going.
 *
 * Memory: one day's timeline at a time, plus a few recent plans for gateway
 * lookups by date.
 */
import { planDay, type DayPlan } from './day-plan.js';
import { DayTimeline } from './day-timeline.js';
import { addDays, daysBetween } from './london-time.js';
import type { SimClock } from './sim-clock.js';
import type { TimedMessage } from './timed-message.js';

/** The clock starts this long before the first market opens, so something happens at once. */
export const LEAD_IN_MS = 60_000;
/** Messages published per timer turn before yielding to the event loop. */
const MAX_PER_TURN = 2_000;
/** Longest wait between checks: the clock may be paused, resumed or moved meanwhile. */
const MAX_WAIT_MS = 500;
/** Plans kept for gateway lookups of other dates; beyond this the oldest is dropped. */
const PLAN_CACHE = 4;
/** Dates further than this from the first day have no card (the gateway answers empty). */
export const MAX_DAY_DISTANCE = 366;

export interface PlayerOptions {
  seed: number;
  /** Date (YYYY-MM-DD) of day 0. */
  date: string;
  rate: number;
  clock: SimClock;
  publish: (m: TimedMessage) => void;
  /** Start of day 0 as simulated epoch ms, or undefined for the lead-in before the first market. */
  startAt?: (plan: DayPlan) => number | undefined;
}

export class DayPlayer {
  private dayIndex = 0;
  private plan: DayPlan;
  private timeline: DayTimeline;
  private readonly cache = new Map<number, DayPlan>();
  private timer: NodeJS.Timeout | undefined;
  private playing = false;

  constructor(private readonly opts: PlayerOptions) {
    this.plan = this.planOf(0);
    this.timeline = this.timelineOf(this.plan);
    const start = opts.startAt?.(this.plan) ?? this.plan.firstActivityAt - LEAD_IN_MS;
    opts.clock.jumpTo(start);
    this.timeline.skipUntil(start);
  }

  get current(): DayPlan {
    return this.plan;
  }

  /** The plan of a date, or of the current day; undefined beyond MAX_DAY_DISTANCE. */
  planFor(date: string | undefined): DayPlan | undefined {
    if (date === undefined) return this.plan;
    const index = daysBetween(this.opts.date, date);
    if (Math.abs(index) > MAX_DAY_DISTANCE) return undefined;
    return this.planOf(index);
  }

  play(): void {
    this.playing = true;
    this.opts.clock.resume();
    this.schedule(0);
  }

  pause(): void {
    this.playing = false;
    this.opts.clock.pause();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private planOf(index: number): DayPlan {
    if (this.plan?.dayIndex === index) return this.plan;
    let plan = this.cache.get(index);
    if (!plan) {
      plan = planDay(this.opts.seed, index, addDays(this.opts.date, index));
      this.cache.set(index, plan);
      if (this.cache.size > PLAN_CACHE) this.cache.delete(this.cache.keys().next().value!);
    }
    return plan;
  }

  private timelineOf(plan: DayPlan): DayTimeline {
    const clock = this.opts.clock;
    return new DayTimeline(plan, { rate: this.opts.rate, timeText: (ms) => new Date(clock.project(ms)).toISOString() });
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(this.turn, Math.min(MAX_WAIT_MS, Math.max(0, ms)));
  }

  private rollDay(): void {
    this.dayIndex += 1;
    this.plan = this.planOf(this.dayIndex);
    this.timeline = this.timelineOf(this.plan);
    this.opts.clock.jumpTo(this.plan.firstActivityAt - LEAD_IN_MS);
  }

  private readonly turn = (): void => {
    this.timer = undefined;
    if (!this.playing) return;
    const now = this.opts.clock.now();
    for (let n = 0; n < MAX_PER_TURN; n++) {
      const next = this.timeline.peek();
      if (!next) {
        this.rollDay();
        return this.schedule(0);
      }
      if (next.at > now) return this.schedule(this.opts.clock.realDelayUntil(next.at));
      this.timeline.shift();
      this.opts.publish(next);
    }
    this.schedule(0);
  };
}
