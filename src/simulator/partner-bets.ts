/**
 * The partner's own bets on a race or a placepot: placement answered within
 * seconds (accepted, or rejected/failed with a reason), the odd cancellation,
 * and after the result one BetResulted then one BetSettled per bet, as Tote's
 * settlement guide describes.
 */
import type { ProductPlan, RacePlan } from './day-plan.js';
import { unitReturn } from './dividends.js';
import { betMessage, betReturns, type BetFacts } from './payloads.js';
import type { Rng } from './prng.js';
import type { PendingMessage } from './timed-message.js';

const SEC = 1000;
const STAKES = [0.5, 1, 1.5, 2, 5, 10, 20];
const REJECT_REASONS = [
  'Product was not open',
  'Stake is below the minimum for this bet type',
  'Selection is not available',
  'Error placing a bet with the bet provider',
];
const FAIL_REASONS = ['Error placing a bet with the bet provider', 'Timed out waiting for the bet provider'];
const PICKS: Readonly<Record<ProductPlan['betType'], number>> = { WIN: 1, PLACE: 1, EXACTA: 2, TRIFECTA: 3, PLACEPOT: 1 };

export type Outcome = 'accepted' | 'cancelled' | 'rejected' | 'failed';

export interface BetWindow {
  products: readonly ProductPlan[];
  /** Relative chance of each product being bet on. */
  weights: readonly number[];
  from: number;
  to: number;
  count: number;
  /** Outcomes to use first (the day's first race shows each kind once). */
  forced?: readonly Outcome[];
}

function drawOutcome(rng: Rng): Outcome {
  const x = rng.next();
  if (x < 0.09) return 'rejected';
  if (x < 0.15) return 'failed';
  return rng.chance(0.05) ? 'cancelled' : 'accepted';
}

export function partnerBets(rng: Rng, races: readonly RacePlan[], w: BetWindow): PendingMessage[] {
  const out: PendingMessage[] = [];
  for (let n = 0; n < w.count; n++) {
    const product = w.products[rng.weighted(w.weights)]!;
    const outcome = w.forced?.[n] ?? drawOutcome(rng);
    const placedAt = Math.round(rng.range(w.from, w.to));
    const bet: BetFacts = {
      betId: rng.hex32(),
      customerBetId: rng.chance(0.5) ? `customer-bet-${rng.int(1, 99_999)}` : `bet-${product.betType.toLowerCase()}-${rng.guid()}`,
      ticketId: `ticket-${rng.guid()}`,
      toteTicketId: rng.guid(),
      productId: product.id,
      betType: product.betType,
      stake: rng.pick(STAKES),
    };
    // Picks come from the runners that will run, weighted by ability, as punters bet.
    const picks = product.legs.map((leg) => {
      const race = races[leg.raceOrder]!;
      const pool = [...race.fate.order];
      const chosen: number[] = [];
      while (chosen.length < PICKS[product.betType] && pool.length) {
        chosen.push(pool.splice(rng.weighted(pool.map((r) => race.runners[r]!.strength)), 1)[0]!);
      }
      return chosen;
    });
    const answered = placedAt + Math.round(rng.range(0.3, 3) * SEC);
    const add = (at: number, rootField: string, build: () => Record<string, unknown>) => out.push({ at, rootField, build });
    if (outcome === 'rejected') {
      const reason = rng.pick(REJECT_REASONS);
      add(answered, 'onBetRejected', () => betMessage(bet, 'REJECTED', { reason }));
      continue;
    }
    if (outcome === 'failed') {
      const reason = rng.pick(FAIL_REASONS);
      add(answered, 'onBetFailed', () => betMessage(bet, 'FAILED', { reason }));
      continue;
    }
    add(answered, 'onBetAccepted', () => betMessage(bet, 'ACCEPTED'));
    if (outcome === 'cancelled') {
      const at = Math.min(w.to, answered + Math.round(rng.range(10, 120) * SEC));
      add(Math.max(at, answered + SEC), 'onBetCancelled', () =>
        betMessage(bet, 'CANCELLED', { reason: "Cancelled at the partner's request" }),
      );
      continue;
    }
    const returned = bet.stake * unitReturn(product, races, picks);
    const resultedAt = product.resultAt + Math.round(rng.range(70, 150) * SEC);
    const settledAt = resultedAt + Math.round(rng.range(30, 300) * SEC);
    add(resultedAt, 'onBetResulted', () => betMessage(bet, 'RESULTED', betReturns(returned, 0)));
    add(settledAt, 'onBetSettled', () => betMessage(bet, 'SETTLED', betReturns(returned, 0)));
  }
  return out;
}
