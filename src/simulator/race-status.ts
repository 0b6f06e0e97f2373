/**
 * What a race or product looks like at a simulated moment, read from its
 * plan. The query gateway answers from these; the message streams announce
 * the same transitions at the same moments.
 */
import type { ProductPlan, RacePlan } from './day-plan.js';

export type EventStatus = 'SCHEDULED' | 'DELAYED' | 'STARTED' | 'FINISHED';
export type SellingStatus = 'UNKNOWN' | 'OPEN' | 'CLOSED';
export type EntryStatus = 'CONFIRMED' | 'WITHDRAWN';

export function eventStatusAt(race: RacePlan, t: number): EventStatus {
  const f = race.fate;
  if (t >= f.finishAt) return 'FINISHED';
  if (t >= f.offAt) return 'STARTED';
  if (f.delayed && t >= race.scheduledAt) return 'DELAYED';
  return 'SCHEDULED';
}

/** Before the market opens Tote's selling status is UNKNOWN; products close at the (first leg's) off. */
export function sellingStatusAt(product: ProductPlan, t: number): SellingStatus {
  if (t < product.openAt) return 'UNKNOWN';
  return t < product.closeAt ? 'OPEN' : 'CLOSED';
}

export function entryStatusAt(race: RacePlan, runner: number, t: number): EntryStatus {
  return race.fate.nonRunners.some((n) => n.runner === runner && n.at <= t) ? 'WITHDRAWN' : 'CONFIRMED';
}

/** Runner indices still able to run at `t`: neither withdrawn nor suspended. */
export function availableRunners(race: RacePlan, t: number): number[] {
  const s = race.fate.suspension;
  return race.runners
    .map((_, i) => i)
    .filter((i) => entryStatusAt(race, i, t) === 'CONFIRMED' && !(s && s.runner === i && s.at <= t && t < s.until));
}
