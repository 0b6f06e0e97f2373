/**
 * Dividends per 1 GBP unit, from each race's finishing order and the share of
 * the pool its runners attracted (their strength). Illustrative arithmetic,
 * not Tote's rules: the net pool divided by the stakes on the winning
 * combination.
 */
import { placesPaid, round2, type ProductLeg, type ProductPlan, type RacePlan } from './day-plan.js';
import type { DividendLine } from './payloads.js';

/** Share of the win pool on each runner that ran (0 for non-runners). */
export function poolShares(race: RacePlan): number[] {
  const running = new Set(race.fate.order);
  let total = 0;
  for (const i of running) total += race.runners[i]!.strength;
  return race.runners.map((r, i) => (running.has(i) ? r.strength / total : 0));
}

const MAX_DIVIDEND = 250_000;

function unit(amount: number): number {
  return round2(Math.min(MAX_DIVIDEND, Math.max(1, amount)));
}

/** Place dividend from a win-pool share: a fraction of the win price, as place pools pay. */
export function placeDividend(netFraction: number, share: number, places: number): number {
  return Math.max(1.05, 1 + (netFraction / share - 1) / (places + 1));
}

function placed(race: RacePlan): number[] {
  return race.fate.order.slice(0, placesPaid(race.fate.order.length));
}

function legLine(leg: ProductLeg, runners: readonly number[]) {
  return { legId: leg.id, selections: runners.map((r, i) => ({ id: leg.selections[r]!, finishingPosition: String(i + 1) })) };
}

export function dividendLines(product: ProductPlan, races: readonly RacePlan[]): DividendLine[] {
  const net = 1 - product.takeout;
  const leg = product.legs[0]!;
  const race = races[leg.raceOrder]!;
  const s = poolShares(race);
  const [a, b, c] = race.fate.order as [number, number, number];
  switch (product.betType) {
    case 'WIN':
      return [{ amount: unit(net / s[a]!), legs: [legLine(leg, [a])] }];
    case 'PLACE': {
      const top = placed(race);
      return top.map((r, i) => ({
        amount: unit(placeDividend(net, s[r]!, top.length)),
        legs: [{ legId: leg.id, selections: [{ id: leg.selections[r]!, finishingPosition: String(i + 1) }] }],
      }));
    }
    case 'EXACTA':
      return [{ amount: unit(net / ((s[a]! * s[b]!) / (1 - s[a]!))), legs: [legLine(leg, [a, b])] }];
    case 'TRIFECTA': {
      const p = ((s[a]! * s[b]!) / (1 - s[a]!)) * (s[c]! / (1 - s[a]! - s[b]!));
      return [{ amount: unit(net / p), legs: [legLine(leg, [a, b, c])] }];
    }
    case 'PLACEPOT': {
      let p = 1;
      const legs = product.legs.map((l) => {
        const r = races[l.raceOrder]!;
        const shares = poolShares(r);
        const top = placed(r);
        p *= top.reduce((sum, i) => sum + shares[i]!, 0);
        return { legId: l.id, selections: top.map((i, pos) => ({ id: l.selections[i]!, finishingPosition: String(pos + 1) })) };
      });
      return [{ amount: unit(net / p), legs }];
    }
  }
}

/**
 * What a bet returns per unit stake: the dividend of the line its selections
 * (runner indices per leg) match, or 0.
 */
export function unitReturn(product: ProductPlan, races: readonly RacePlan[], picks: readonly (readonly number[])[]): number {
  const lines = dividendLines(product, races);
  const ids = product.legs.map((l, i) => (picks[i] ?? []).map((r) => l.selections[r]!));
  for (const line of lines) {
    const hit = line.legs.every((leg, i) => {
      const mine = ids[i] ?? [];
      const won = leg.selections.map((x) => x.id);
      // Place and placepot pay any placed selection; the others need the exact order.
      if (product.betType === 'PLACE' || product.betType === 'PLACEPOT') return mine.length === 1 && won.includes(mine[0]!);
      return mine.length === won.length && mine.every((id, j) => id === won[j]);
    });
    if (hit) return line.amount;
  }
  return 0;
}
