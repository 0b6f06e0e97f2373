/**
 * The scripted life of one race and its products, and of a meeting's
 * placepot, as Tote would announce it: SCHEDULED, products OPEN, non-runners
 * and suspensions, the off (STARTED, products CLOSED, a final pool total),
 * FINISHED, results and dividends PROVISIONAL then FINAL, products SETTLED,
 * and the partner's bets around it. Pool totals and lines run in pool-stream.ts.
 */
import { type DayPlan, type MeetingPlan, type ProductLeg, type ProductPlan, type RacePlan } from './day-plan.js';
import { dividendLines } from './dividends.js';
import { partnerBets, type Outcome } from './partner-bets.js';
import { poolDividend, poolTotal, type Payload } from './payloads.js';
import { Rng } from './prng.js';
import { eventStatusAt } from './race-status.js';
import { inTimeOrder, type PendingMessage, type TimedMessage } from './timed-message.js';

const SEC = 1000;
const MIN = 60 * SEC;

/** Simulated epoch ms -> the ISO text the simulator exposes for it. */
export type TimeText = (simMs: number) => string;

/** The day's first race places one bet of each outcome, so every bet message shows early. */
const SHOWCASE_BETS: readonly Outcome[] = ['accepted', 'cancelled', 'rejected', 'failed', 'accepted'];

class Script {
  readonly pending: PendingMessage[] = [];
  add(at: number, rootField: string, build: () => Payload): void {
    this.pending.push({ at: Math.round(at), rootField, build });
  }
}

/** Product status changes and dividends after the result, shared by races and placepots. */
function settleProduct(s: Script, rng: Rng, product: ProductPlan, races: readonly RacePlan[], provisionalAt: number): void {
  s.add(product.closeAt + rng.range(1, 4) * SEC, 'onProductStatusChanged', () => ({ productId: product.id, status: 'CLOSED' }));
  s.add(product.closeAt + rng.range(5, 20) * SEC, 'onPoolTotalChanged', () => poolTotal(product, product.finalGross, true));
  const lines = () => dividendLines(product, races);
  s.add(provisionalAt + rng.range(30, 90) * SEC, 'onPoolDividendChanged', () => poolDividend(product, 'PROVISIONAL', lines()));
  s.add(product.resultAt + rng.range(20, 60) * SEC, 'onPoolDividendChanged', () => poolDividend(product, 'FINAL', lines()));
  s.add(product.resultAt + rng.range(70, 130) * SEC, 'onProductStatusChanged', () => ({ productId: product.id, status: 'SETTLED' }));
}

/** EventResultChanged for a race's planned finishing order. */
export function raceResult(race: RacePlan, status: string): Payload {
  return {
    eventId: race.id,
    status,
    competitorResults: race.fate.order.map((r, i) => ({
      competitorId: race.runners[r]!.id,
      name: race.runners[r]!.name,
      finishingPosition: String(i + 1),
      status,
    })),
  };
}

export function raceLifecycle(
  plan: DayPlan,
  race: RacePlan,
  placepot: ProductPlan | undefined,
  timeText: TimeText,
): Generator<TimedMessage> {
  const rng = Rng.for(plan.seed, plan.dayIndex, 'lifecycle', race.id);
  const s = new Script();
  const f = race.fate;
  const eventId = race.id;
  // A meeting opens all its races at once; a couple of seconds apart keeps the burst in card order.
  const open = race.openAt + race.raceNumber * 2 * SEC;
  s.add(open, 'onEventStatusChanged', () => ({ eventId, status: 'SCHEDULED' }));
  race.products.forEach((p, k) => s.add(open + (k + 1) * 250, 'onProductStatusChanged', () => ({ productId: p.id, status: 'OPEN' })));

  const eventUpdated = (at: number) =>
    s.add(at, 'onEventUpdated', () => ({
      eventId,
      name: race.name,
      status: eventStatusAt(race, at),
      scheduledStartDateTime: { iso8601: timeText(race.scheduledAt) },
      venue: { id: race.venue.id, name: race.venue.name },
    }));

  // Every product leg that offers this race's runners.
  const legs: { product: ProductPlan; leg: ProductLeg }[] = race.products.map((product) => ({ product, leg: product.legs[0]! }));
  const ppLeg = placepot?.legs.find((l) => l.eventId === eventId);
  if (placepot && ppLeg) legs.push({ product: placepot, leg: ppLeg });
  const selectionStatus = (at: number, runner: number, status: string) =>
    legs.forEach(({ product, leg }, k) =>
      s.add(at + (k + 1) * SEC, 'onSelectionStatusChanged', () => ({
        productId: product.id,
        legId: leg.id,
        selectionId: leg.selections[runner]!,
        status,
      })),
    );

  for (const nr of f.nonRunners) {
    const competitorId = race.runners[nr.runner]!.id;
    s.add(nr.at, 'onCompetitorStatusChanged', () => ({ eventId, competitorId, status: 'WITHDRAWN' }));
    selectionStatus(nr.at, nr.runner, 'NOT_AVAILABLE');
    eventUpdated(nr.at + 8 * SEC);
  }
  if (f.suspension) {
    selectionStatus(f.suspension.at, f.suspension.runner, 'NOT_AVAILABLE');
    // Tote's own example spells an available selection "Active".
    selectionStatus(f.suspension.until, f.suspension.runner, 'Active');
  }
  if (f.updateAt !== undefined) eventUpdated(f.updateAt);
  if (f.delayed) {
    s.add(race.scheduledAt, 'onEventStatusChanged', () => ({ eventId, status: 'DELAYED' }));
    eventUpdated(race.scheduledAt + 5 * SEC);
  }
  s.add(f.offAt, 'onEventStatusChanged', () => ({ eventId, status: 'STARTED' }));
  s.add(f.finishAt, 'onEventStatusChanged', () => ({ eventId, status: 'FINISHED' }));
  const result = (status: string) => () => raceResult(race, status);
  s.add(f.provisionalAt, 'onEventResultChanged', result('PROVISIONAL'));
  s.add(f.finalAt, 'onEventResultChanged', result('FINAL'));
  for (const product of race.products) settleProduct(s, rng, product, plan.races, f.provisionalAt);

  const showcase = race.order === 0;
  s.pending.push(
    ...partnerBets(rng, plan.races, {
      products: race.products,
      weights: [5, 2, 1.5, 1.5],
      from: showcase ? race.openAt + 2 * MIN : Math.max(race.openAt + MIN, race.scheduledAt - 40 * MIN),
      to: showcase ? race.openAt + 15 * MIN : f.offAt - 30 * SEC,
      count: showcase ? SHOWCASE_BETS.length : rng.int(2, 6),
      ...(showcase ? { forced: SHOWCASE_BETS } : {}),
    }),
  );
  return inTimeOrder(s.pending);
}

/** A meeting's placepot: open with the meeting, closed at the first leg's off, settled after the last leg. */
export function placepotLifecycle(plan: DayPlan, meeting: MeetingPlan): Generator<TimedMessage> {
  const rng = Rng.for(plan.seed, plan.dayIndex, 'placepot-lifecycle', meeting.index);
  const s = new Script();
  const pp = meeting.placepot;
  s.add(pp.openAt + 500, 'onProductStatusChanged', () => ({ productId: pp.id, status: 'OPEN' }));
  const legRaces = pp.legs.map((l) => plan.races[l.raceOrder]!);
  const lastLeg = legRaces.reduce((a, b) => (b.fate.finalAt > a.fate.finalAt ? b : a));
  settleProduct(s, rng, pp, plan.races, lastLeg.fate.provisionalAt);
  s.pending.push(
    ...partnerBets(rng, plan.races, {
      products: [pp],
      weights: [1],
      from: pp.openAt + MIN,
      to: pp.closeAt - 30 * SEC,
      count: rng.int(1, 3),
    }),
  );
  return inTimeOrder(s.pending);
}
