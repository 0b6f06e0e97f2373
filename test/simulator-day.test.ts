import { describe, expect, it } from 'vitest';
import { CATALOG } from '../src/catalog/catalog.js';
import { planDay } from '../src/simulator/day-plan.js';
import { DayTimeline, firstMessages } from '../src/simulator/day-timeline.js';
import { londonHHMM, londonTime } from '../src/simulator/london-time.js';
import type { TimedMessage } from '../src/simulator/timed-message.js';

const DATE = '2026-11-21';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const BET_ID = /^[0-9a-f]{32}$/;

function wholeDay(seed: number, rate = 1): TimedMessage[] {
  const t = new DayTimeline(planDay(seed, 0, DATE), { rate });
  const out: TimedMessage[] = [];
  for (let m = t.shift(); m; m = t.shift()) out.push(m);
  return out;
}

const day = wholeDay(7);
const plan = planDay(7, 0, DATE);

describe('simulated racing day', () => {
  it('is the same for the same seed and different for another', () => {
    const a = firstMessages(new DayTimeline(planDay(42, 0, DATE)), 500);
    const b = firstMessages(new DayTimeline(planDay(42, 0, DATE)), 500);
    const c = firstMessages(new DayTimeline(planDay(43, 0, DATE)), 500);
    expect(a).toHaveLength(500);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(JSON.stringify(c)).not.toBe(JSON.stringify(a));
    // The next day rolls to a different card.
    expect(planDay(42, 1, '2026-11-22').races[0]!.id).not.toBe(planDay(42, 0, DATE).races[0]!.id);
  });

  it('looks like a UK card: 4-6 meetings at real venues, races 12:00-21:30, 6-14 runners, Tote id formats', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const p = planDay(seed, 0, DATE);
      expect(p.meetings.length).toBeGreaterThanOrEqual(4);
      expect(p.meetings.length).toBeLessThanOrEqual(6);
      for (const m of p.meetings) {
        expect(m.venue.name).toBe(m.venue.name.toUpperCase());
        expect(m.placepot.legs.length).toBeGreaterThan(1);
        expect(m.placepot.name).toMatch(new RegExp(`^${m.venue.name} \\d\\d:\\d\\d - PLACEPOT$`));
        const gaps = m.races.slice(1).map((r, i) => (r.scheduledAt - m.races[i]!.scheduledAt) / 60_000);
        for (const g of gaps) {
          expect(g).toBeGreaterThanOrEqual(20);
          expect(g).toBeLessThanOrEqual(35);
        }
      }
      for (const r of p.races) {
        expect(r.scheduledAt).toBeGreaterThanOrEqual(londonTime(DATE, 12 * 60));
        expect(r.scheduledAt).toBeLessThanOrEqual(londonTime(DATE, 21 * 60 + 30));
        expect(r.runners.length).toBeGreaterThanOrEqual(6);
        expect(r.runners.length).toBeLessThanOrEqual(14);
        expect(r.id).toMatch(GUID);
        expect(r.products.map((x) => x.betType)).toEqual(['WIN', 'PLACE', 'EXACTA', 'TRIFECTA']);
        expect(r.products[0]!.name).toBe(`${r.venue.name} ${londonHHMM(r.scheduledAt)} - WIN`);
      }
    }
  });

  it('sends all 15 message types within the first race cycle', () => {
    const first = plan.races[0]!;
    const cycleEnd = first.fate.finalAt + 15 * 60_000;
    const seen = new Set(day.filter((m) => m.at <= cycleEnd).map((m) => m.rootField));
    expect([...seen].sort()).toEqual(CATALOG.map((e) => e.rootField).sort());
  });

  it('runs each race through the documented lifecycle in order', () => {
    for (const race of plan.races.slice(0, 8)) {
      const win = race.products[0]!;
      const at = (pred: (m: TimedMessage) => boolean) => day.find(pred)?.at ?? NaN;
      const ev = (status: string) =>
        at((m) => m.rootField === 'onEventStatusChanged' && m.payload.eventId === race.id && m.payload.status === status);
      const prod = (status: string) =>
        at((m) => m.rootField === 'onProductStatusChanged' && m.payload.productId === win.id && m.payload.status === status);
      const result = (status: string) =>
        at((m) => m.rootField === 'onEventResultChanged' && m.payload.eventId === race.id && m.payload.status === status);
      const dividend = (status: string) =>
        at((m) => m.rootField === 'onPoolDividendChanged' && m.payload.productId === win.id && m.payload.status === status);
      const finalPool = at((m) => m.rootField === 'onPoolTotalChanged' && m.payload.productId === win.id && m.payload.isFinalized === true);
      const steps = [
        ev('SCHEDULED'),
        prod('OPEN'),
        ev('STARTED'),
        prod('CLOSED'),
        finalPool,
        ev('FINISHED'),
        result('PROVISIONAL'),
        dividend('PROVISIONAL'),
        result('FINAL'),
        dividend('FINAL'),
        prod('SETTLED'),
      ];
      for (const s of steps) expect(s).not.toBeNaN();
      expect(steps).toEqual([...steps].sort((a, b) => a - b));
      const positions = day.find((m) => m.rootField === 'onEventResultChanged' && m.payload.eventId === race.id)!.payload
        .competitorResults as { finishingPosition: string }[];
      expect(positions.map((p) => p.finishingPosition)).toEqual(positions.map((_, i) => String(i + 1)));
    }
  });

  it('grows pool totals toward the off, faster near it, nets about 74% of a WIN pool, finalises once', () => {
    const race = plan.races[3]!;
    const win = race.products[0]!;
    const totals = day.filter((m) => m.rootField === 'onPoolTotalChanged' && m.payload.productId === win.id);
    const gross = totals.map((m) => (m.payload.total as { grossAmounts: { decimalAmount: number }[] }).grossAmounts[0]!.decimalAmount);
    expect(gross).toEqual([...gross].sort((a, b) => a - b));
    expect(totals.filter((m) => m.payload.isFinalized === true)).toHaveLength(1);
    const last = totals.at(-1)!.payload.total as {
      grossAmounts: { decimalAmount: number }[];
      netAmounts: { decimalAmount: number; currency: { code: string } }[];
    };
    expect(last.netAmounts[0]!.decimalAmount / last.grossAmounts[0]!.decimalAmount).toBeCloseTo(0.74, 2);
    expect(last.netAmounts[0]!.currency.code).toBe('GBP');
    const off = race.fate.offAt;
    const lastTen = totals.filter((m) => m.at > off - 10 * 60_000 && m.at < off).length;
    const tenBefore = totals.filter((m) => m.at > off - 20 * 60_000 && m.at <= off - 10 * 60_000).length;
    expect(lastTen).toBeGreaterThan(2 * tenBefore);
  });

  it('withdraws non-runners: competitor WITHDRAWN, then its selections NOT_AVAILABLE in every product leg', () => {
    const race = plan.races[0]!;
    const nr = race.fate.nonRunners[0]!;
    const runner = race.runners[nr.runner]!;
    const withdrawn = day.find((m) => m.rootField === 'onCompetitorStatusChanged' && m.payload.competitorId === runner.id)!;
    expect(withdrawn.payload).toEqual({ eventId: race.id, competitorId: runner.id, status: 'WITHDRAWN' });
    const selections = day.filter(
      (m) => m.rootField === 'onSelectionStatusChanged' && m.at >= withdrawn.at && m.at < withdrawn.at + 10_000,
    );
    const legs = race.products.map((p) => p.legs[0]!.selections[nr.runner]);
    for (const id of legs) expect(selections.find((m) => m.payload.selectionId === id)?.payload.status).toBe('NOT_AVAILABLE');
    const result = day.find((m) => m.rootField === 'onEventResultChanged' && m.payload.eventId === race.id)!;
    expect((result.payload.competitorResults as { competitorId: string }[]).map((c) => c.competitorId)).not.toContain(runner.id);
  });

  it('answers partner bets within seconds, then results and settles each accepted bet once', () => {
    const bets = day.filter((m) => m.rootField.startsWith('onBet'));
    for (const m of bets) expect(m.payload.betId).toMatch(BET_ID);
    const accepted = bets.filter((m) => m.rootField === 'onBetAccepted');
    const rejected = bets.filter((m) => m.rootField === 'onBetRejected');
    expect(accepted.length).toBeGreaterThan(rejected.length * 3);
    for (const r of rejected) expect(typeof r.payload.reason).toBe('string');
    const cancelled = new Set(bets.filter((m) => m.rootField === 'onBetCancelled').map((m) => m.payload.betId));
    for (const a of accepted) {
      const id = a.payload.betId;
      const resulted = bets.filter((m) => m.rootField === 'onBetResulted' && m.payload.betId === id);
      const settled = bets.filter((m) => m.rootField === 'onBetSettled' && m.payload.betId === id);
      expect(resulted.length + settled.length).toBe(cancelled.has(id) ? 0 : 2);
      if (!cancelled.has(id)) expect(settled[0]!.at).toBeGreaterThan(resulted[0]!.at);
    }
  });

  it('multiplies pool and lines traffic with rate, not the lifecycle', () => {
    const faster = wholeDay(7, 3);
    const count = (ms: TimedMessage[], f: string) => ms.filter((m) => m.rootField === f).length;
    expect(count(faster, 'onPoolTotalChanged')).toBeGreaterThan(2.5 * count(day, 'onPoolTotalChanged'));
    expect(count(faster, 'onEventStatusChanged')).toBe(count(day, 'onEventStatusChanged'));
  });

  it('keeps only open markets in memory: streams shrink as the day goes by', () => {
    const t = new DayTimeline(plan);
    const atStart = t.streams;
    t.skipUntil(plan.races.at(-1)!.scheduledAt);
    expect(t.streams).toBeLessThan(atStart / 3);
  });
});
