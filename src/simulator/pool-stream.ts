/**
 * One product's pool while it is open: PoolTotalChanged updates whose
 * frequency rises toward the off (most money arrives in the last minutes), and
 * for WIN and PLACE an odds LinesChanged every few updates. `rate` multiplies
 * the frequency. The closing, finalized total is part of the race's script.
 */
import { placesPaid, round2, type DayPlan, type ProductPlan } from './day-plan.js';
import { placeDividend } from './dividends.js';
import { linesChanged, poolTotal, type LineOdds } from './payloads.js';
import { Rng } from './prng.js';
import { availableRunners } from './race-status.js';
import type { TimedMessage } from './timed-message.js';

const SEC = 1000;
const MIN = 60 * SEC;

/** Seconds between updates by minutes to the off, at rate 1. */
function gapSeconds(minutesToOff: number): number {
  if (minutesToOff > 60) return 300;
  if (minutesToOff > 20) return 90;
  if (minutesToOff > 5) return 30;
  if (minutesToOff > 1) return 10;
  return 4;
}

/** Fraction of the final pool staked with `tau` minutes to go out of a `window`-minute market. */
function staked(tau: number, window: number): number {
  return 0.3 * Math.max(0, 1 - tau / window) + 0.7 * Math.exp(-tau / 8);
}

export function* poolStream(plan: DayPlan, product: ProductPlan, rate: number): Generator<TimedMessage> {
  const rng = Rng.for(plan.seed, plan.dayIndex, 'pool', product.id);
  const window = (product.closeAt - product.openAt) / MIN;
  const end = product.closeAt - 2 * SEC;
  const race = plan.races[product.legs[0]!.raceOrder]!;
  const withLines = product.betType === 'WIN' || product.betType === 'PLACE';
  const linesEvery = rng.int(4, 6);
  const drift = race.runners.map(() => 0);
  let gross = 0;
  let n = 0;
  for (let t = product.openAt + Math.round(rng.range(30, 60) * SEC); t < end;) {
    const tau = (product.closeAt - t) / MIN;
    // Never falls, never reaches the final figure before the close.
    const target = product.finalGross * staked(tau, window);
    gross = round2(Math.min(product.finalGross * 0.999, Math.max(gross + rng.range(0.5, 20), target * rng.range(0.97, 1.0))));
    const at = t;
    const amount = gross;
    yield { at, rootField: 'onPoolTotalChanged', payload: poolTotal(product, amount, false) };
    if (withLines && ++n % linesEvery === 0) {
      for (let i = 0; i < drift.length; i++) drift[i]! += 0.08 * rng.normal();
      yield {
        at,
        rootField: 'onLinesChanged',
        payload: linesChanged(product, odds(product, race.runners, drift, availableRunners(race, at)), 'PROVISIONAL'),
      };
    }
    t += Math.max(20, Math.round((gapSeconds(tau) * SEC * rng.range(0.6, 1.4)) / rate));
  }
}

/** Approximate pool odds from each runner's share of the money, as Tote displays them. */
function odds(
  product: ProductPlan,
  runners: readonly { strength: number }[],
  drift: readonly number[],
  running: readonly number[],
): LineOdds[] {
  const leg = product.legs[0]!;
  const weight = running.map((i) => runners[i]!.strength * Math.exp(drift[i]!));
  const total = weight.reduce((a, b) => a + b, 0);
  const net = 1 - product.takeout;
  const places = placesPaid(running.length);
  return running.map((i, k) => {
    const share = weight[k]! / total;
    const decimal = product.betType === 'WIN' ? net / share : placeDividend(net, share, places);
    return { legId: leg.id, selectionIds: [leg.selections[i]!], decimal: round2(Math.max(1.01, decimal)) };
  });
}
