/**
 * The daily window turned into what the platform understands: cron lines for
 * Cloud Scheduler (which follows the window's time zone itself, so BST/GMT
 * needs nothing here) and a UTC range for alert conditions (which know only
 * UTC).
 */
import type { DailyWindow } from '../src/window/daily-window.js';

export type { DailyWindow };

const DAY = 24 * 60;
const wrap = (minute: number) => ((minute % DAY) + DAY) % DAY;

export function minuteOfDay(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

/** Daily unix-cron line firing at a minute of the day; minutes wrap around midnight. */
export function dailyCron(minute: number): string {
  const m = wrap(minute);
  return `${m % 60} ${Math.floor(m / 60)} * * *`;
}

export interface WindowSchedule {
  /** Manual instance count 0 -> 1, a little before the window opens. */
  scaleUp: string;
  /** POST /start. */
  start: string;
  /** POST /stop. */
  stop: string;
  /** Manual instance count 1 -> 0, a little after /stop. */
  scaleDown: string;
}

/**
 * The part of the day in which the schedule keeps the subscriber at one
 * instance, as minutes of the day in the window's zone: from the scale-up job
 * (inclusive) to the scale-down job (exclusive). `from` > `until` when the lead
 * or lag crosses midnight. The deploy scripts decide with this whether an
 * instance they touch belongs to the schedule (through infra/print-config.ts).
 */
export interface ScaledPeriod {
  readonly from: number;
  readonly until: number;
}

export function scaledPeriod(w: DailyWindow, scaleUpLeadMinutes: number, scaleDownLagMinutes: number): ScaledPeriod {
  return { from: wrap(minuteOfDay(w.start) - scaleUpLeadMinutes), until: wrap(minuteOfDay(w.end) + scaleDownLagMinutes) };
}

export function windowSchedule(w: DailyWindow, scaleUpLeadMinutes: number, scaleDownLagMinutes: number): WindowSchedule {
  const scaled = scaledPeriod(w, scaleUpLeadMinutes, scaleDownLagMinutes);
  return {
    scaleUp: dailyCron(scaled.from),
    start: dailyCron(minuteOfDay(w.start)),
    stop: dailyCron(minuteOfDay(w.end)),
    scaleDown: dailyCron(scaled.until),
  };
}

/** Wall-clock minutes from the window's start to its end (the window does not cross midnight; config.ts refuses that). */
export function windowMinutes(w: DailyWindow): number {
  return minuteOfDay(w.end) - minuteOfDay(w.start);
}

/** The UTC offsets (minutes east of UTC) a zone uses during a year, sampled daily at noon UTC. */
export function utcOffsets(timeZone: string, year: number): number[] {
  const fmt = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  });
  const offsets = new Set<number>();
  for (let day = 0; day < 366; day++) {
    const at = Date.UTC(year, 0, 1 + day, 12);
    const p = Object.fromEntries(fmt.formatToParts(at).map((x) => [x.type, Number(x.value)]));
    const local = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!);
    offsets.add(Math.round((local - at) / 60_000));
  }
  return [...offsets].sort((a, b) => a - b);
}

export interface UtcRange {
  /** Minute of the UTC day, inclusive. */
  readonly from: number;
  /** Minute of the UTC day, exclusive. */
  readonly to: number;
}

/**
 * The part of the UTC day that is inside the window on every day of the year
 * (GMT and BST alike), starting `graceMinutes` after the window opens. For
 * 06:00-23:00 Europe/London that is 06:00+grace to 22:00 UTC. Null when no
 * such range exists (a window crossing midnight UTC, or shorter than the
 * zone's offset swing plus the grace).
 */
export function alwaysInsideUtc(w: DailyWindow, graceMinutes: number, year: number): UtcRange | null {
  const start = minuteOfDay(w.start);
  const end = minuteOfDay(w.end);
  if (end <= start) return null;
  const offsets = utcOffsets(w.timeZone, year);
  const from = start - offsets[0]! + graceMinutes;
  const to = end - offsets[offsets.length - 1]!;
  if (from < 0 || to > DAY || from >= to) return null;
  return { from, to };
}
