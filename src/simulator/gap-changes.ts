/**
 * What Tote announces when a race is run and settled, as one set of changes
 * to apply while no socket is open (faults.changeWhileDisconnected): the
 * race finishes, its products close with their final pool totals, the final
 * result and dividends are declared, and its non-runners are withdrawn. The
 * payloads are the ones the day's own script would send.
 */
import type { DayPlan, RacePlan } from './day-plan.js';
import { dividendLines } from './dividends.js';
import { poolDividend, poolTotal, type Payload } from './payloads.js';
import { raceResult } from './race-lifecycle.js';

export interface GapChange {
  readonly rootField: string;
  readonly payload: Payload;
}

export function raceSettledChanges(plan: DayPlan, race: RacePlan): GapChange[] {
  const changes: GapChange[] = [];
  for (const nr of race.fate.nonRunners) {
    changes.push({
      rootField: 'onCompetitorStatusChanged',
      payload: { eventId: race.id, competitorId: race.runners[nr.runner]!.id, status: 'WITHDRAWN' },
    });
  }
  changes.push({ rootField: 'onEventStatusChanged', payload: { eventId: race.id, status: 'FINISHED' } });
  for (const product of race.products) {
    changes.push({ rootField: 'onProductStatusChanged', payload: { productId: product.id, status: 'CLOSED' } });
    changes.push({ rootField: 'onPoolTotalChanged', payload: poolTotal(product, product.finalGross, true) });
  }
  changes.push({ rootField: 'onEventResultChanged', payload: raceResult(race, 'FINAL') });
  for (const product of race.products) {
    changes.push({ rootField: 'onPoolDividendChanged', payload: poolDividend(product, 'FINAL', dividendLines(product, plan.races)) });
  }
  return changes;
}
