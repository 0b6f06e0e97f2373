import type { FeedWindow } from '../config/sse.js';
import { localMinutes } from '../window/daily-window.js';

const MINUTE = 60_000;

/**
 * The instant a fresh subscription is sought back to, so a new instance
 * starts with the day so far: `seekBackMs` before now, but not before the
 * latest start of the feed window (yesterday's messages have no place on
 * today's board). A window whose start equals its end runs all day, so only
 * `seekBackMs` bounds it. Worked out from the wall clock in the window's
 * zone; on the morning a clock change falls inside the look-back it may be an
 * hour off, which costs at most an hour more or less of replay.
 */
export function seekTarget(now: number, seekBackMs: number, window: FeedWindow): number {
  const floor = now - seekBackMs;
  if (window.start === window.end) return floor;
  const [h, m] = window.start.split(':').map(Number);
  const sinceStart = (localMinutes(new Date(now), window.timeZone) - (h! * 60 + m!) + 1440) % 1440;
  const windowStart = Math.floor(now / MINUTE) * MINUTE - sinceStart * MINUTE;
  return Math.max(floor, windowStart);
}
