import { entryForMessageType } from '../src/catalog/catalog.js';
import { extractKeys, makeEnvelope, type Envelope, type Origin } from '../src/envelope/envelope.js';
import type { DayCard } from '../src/day-card/day-card.js';

/**
 * A racing afternoon as the subscriber would have received it: a few races,
 * each with its WIN product going OPEN, pool totals growing toward the off,
 * a non-runner, lines, two partner bets, the close, a late finalized total,
 * provisional then final results and dividends, and the bets resulted and
 * settled. Built with makeEnvelope (the subscriber's own function), with the
 * payload shapes of the catalog's selection sets. Returns the envelopes in
 * arrival order and the facts the analysis queries must reproduce.
 */
export interface RaceFacts {
  readonly eventId: string;
  readonly productId: string;
  /** When the product closed (the off). */
  readonly closedAt: Date;
  readonly lastGrossBeforeClose: number;
  readonly finalGross: number;
  readonly finalNet: number;
  readonly finalDividendAt: Date;
  /** Gross pool at N minutes before the off (from the schedule below). */
  readonly grossAtMinutesBefore: ReadonlyMap<number, number>;
  readonly bets: readonly { betId: string; acceptedAt: Date; resultedAt: Date; settledAt: Date }[];
  readonly rejectedBetId: string;
  /** Runners in cloth-number order; in this feed a product's selection ids are the runners' ids. */
  readonly competitorIds: readonly string[];
}

export interface RaceDay {
  readonly envelopes: readonly Envelope[];
  readonly races: readonly RaceFacts[];
}

const origin: Origin = { source: 'test', protocol: 'graphql-ws', connectionId: 'conn-1', instanceId: 'history-test' };

function money(amount: number) {
  return [{ decimalAmount: amount, currency: { code: 'GBP' } }];
}

const NET = 0.74; // the net/gross ratio of Tote's documented example

function hex(seed: number, len: number): string {
  let s = '';
  let x = seed * 2654435761;
  while (s.length < len) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    s += x.toString(16);
  }
  return s.slice(0, len);
}

function guid(seed: number): string {
  const h = hex(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Races every `everyMinutes` from `firstOff`; all times exact to the millisecond. */
export function raceDay(firstOff: Date, races = 3, everyMinutes = 30): RaceDay {
  const out: { at: Date; env: Envelope }[] = [];
  const facts: RaceFacts[] = [];
  const emit = (at: Date, type: string, payload: Record<string, unknown>) => {
    const entry = entryForMessageType(type)!;
    const keys = extractKeys(entry, payload);
    if (!keys.ok) throw new Error(`fixture ${type} misses ${keys.missing.join(',')}`);
    out.push({ at, env: makeEnvelope(entry, payload, keys.keys, origin, at) });
  };
  for (let i = 0; i < races; i++) {
    const off = new Date(firstOff.getTime() + i * everyMinutes * 60_000);
    const t = (minutes: number) => new Date(off.getTime() + minutes * 60_000);
    const eventId = guid(1000 + i);
    const productId = guid(2000 + i);
    const legId = guid(3000 + i);
    const competitors = Array.from({ length: 6 }, (_, c) => guid(4000 + i * 10 + c));
    emit(t(-40), 'EventStatusChanged', { eventId, status: 'SCHEDULED' });
    emit(t(-40), 'ProductStatusChanged', { productId, status: 'OPEN' });
    // Pool totals every 2 minutes from 30 minutes out, growing faster near the off.
    const grossAt = new Map<number, number>();
    let gross = 0;
    for (let m = 30; m >= 0.5; m -= m > 4 ? 2 : 0.5) {
      gross = Math.round((gross + 100 + (30 - m) * 40 + i * 10) * 100) / 100;
      grossAt.set(m, gross);
      emit(t(-m), 'PoolTotalChanged', {
        productId,
        isFinalized: false,
        total: { grossAmounts: money(gross), netAmounts: money(Math.round(gross * NET * 100) / 100) },
      });
    }
    const lastGrossBeforeClose = gross;
    emit(t(-20), 'CompetitorStatusChanged', { eventId, competitorId: competitors[5], status: 'WITHDRAWN' });
    emit(t(-20), 'SelectionStatusChanged', { productId, legId, selectionId: competitors[5], status: 'NOT_AVAILABLE' });
    emit(t(-10), 'LinesChanged', { productId });
    const bets = [0, 1].map((b) => ({ betId: hex(5000 + i * 10 + b, 32), customerBetId: `bet-${i}-${b}` }));
    const rejected = { betId: hex(6000 + i, 32), customerBetId: `bet-${i}-rejected` };
    const acceptedAt = [t(-15), t(-12.5)];
    bets.forEach((b, k) => emit(acceptedAt[k]!, 'BetAccepted', b));
    emit(t(-11), 'BetRejected', { ...rejected, reason: 'Product was not open' });
    emit(t(0), 'ProductStatusChanged', { productId, status: 'CLOSED' });
    emit(t(0), 'EventStatusChanged', { eventId, status: 'STARTED' });
    const finalGross = Math.round((gross + 250 + i) * 100) / 100;
    const finalNet = Math.round(finalGross * NET * 100) / 100;
    emit(t(1 / 3), 'PoolTotalChanged', {
      productId,
      isFinalized: true,
      total: { grossAmounts: money(finalGross), netAmounts: money(finalNet) },
    });
    emit(t(2), 'EventStatusChanged', { eventId, status: 'FINISHED' });
    const results = (status: string) =>
      competitors.slice(0, 5).map((c, p) => ({ competitorId: c, finishingPosition: String(p + 1), status }));
    emit(t(2.5), 'EventResultChanged', { eventId, competitorResults: results('PROVISIONAL') });
    emit(t(4), 'EventResultChanged', { eventId, competitorResults: results('FINAL') });
    const dividend = (status: string) => [
      {
        dividend: { name: 'WIN', type: 'POOL', status, amounts: money(3.4 + i) },
        legs: [{ legId, selections: [{ id: competitors[0], finishingPosition: '1' }] }],
      },
    ];
    emit(t(4.5), 'PoolDividendChanged', { productId, dividends: dividend('PROVISIONAL') });
    const finalDividendAt = t(6 + i);
    emit(finalDividendAt, 'PoolDividendChanged', { productId, dividends: dividend('FINAL') });
    emit(t(7 + i), 'ProductStatusChanged', { productId, status: 'SETTLED' });
    const resultedAt = [t(7.5 + i), t(8 + i)];
    const settledAt = [t(9 + i), t(10 + i)];
    bets.forEach((b, k) => emit(resultedAt[k]!, 'BetResulted', b));
    bets.forEach((b, k) => emit(settledAt[k]!, 'BetSettled', b));
    facts.push({
      eventId,
      productId,
      closedAt: off,
      lastGrossBeforeClose,
      finalGross,
      finalNet,
      finalDividendAt,
      grossAtMinutesBefore: grossAt,
      bets: bets.map((b, k) => ({ betId: b.betId, acceptedAt: acceptedAt[k]!, resultedAt: resultedAt[k]!, settledAt: settledAt[k]! })),
      rejectedBetId: rejected.betId,
      competitorIds: competitors,
    });
  }
  out.sort((a, b) => a.at.getTime() - b.at.getTime());
  return { envelopes: out.map((o) => o.env), races: facts };
}

/** The day card Tote's query API would give for the day: venue, race names and times, runners, one WIN product per race. */
export function raceDayCard(day: RaceDay, raceName: (race: number) => string = (i) => `Race ${i + 1} Handicap`): DayCard {
  return {
    truncated: false,
    events: day.races.map((r, i) => ({
      id: r.eventId,
      name: raceName(i),
      venue: 'Ascot',
      scheduledStart: r.closedAt.toISOString(),
      status: 'OPEN',
      competitors: r.competitorIds.map((id, c) => ({ id, name: `Runner ${i + 1}-${c + 1}`, number: c + 1 })),
    })),
    products: day.races.map((r) => ({
      id: r.productId,
      name: 'Win',
      betType: 'WIN',
      eventIds: [r.eventId],
      status: 'OPEN',
      selections: r.competitorIds.map((id) => ({ id, competitorId: id })),
    })),
  };
}
