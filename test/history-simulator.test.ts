import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { loadConfig } from '../src/config/index.js';
import { DuckDbStore } from '../src/history/duckdb/duckdb-store.js';
import { createHistorySink, type BatchingHistoryStatus } from '../src/history/index.js';
import { loadQuery } from '../src/history/sql-files.js';
import { createLogger, setLogLevel } from '../src/log/logger.js';
import { startSimulator } from '../src/simulator/index.js';
import { startSubscriberService } from '../src/subscriber/service.js';
import type { Envelope } from '../src/envelope/envelope.js';
import { waitFor } from './helpers/ports.js';

/**
 * What `npm start` does for history, with the real parts: the simulator's
 * racing day over a real socket, the subscriber, and the DuckDB history file.
 * The queries must answer from what the simulator actually sent.
 */
const dir = mkdtempSync(join(tmpdir(), 'tote-histsim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('history of a simulated racing day', () => {
  it('fills the DuckDB file; each product ends at the last pool total the simulator sent for it', async () => {
    setLogLevel('ERROR');
    const key = 'history-test-key';
    // About 40 simulated minutes per real second: a few races close within the test.
    const sim = await startSimulator({ apiKeys: [key], seed: 7, speed: 2400, host: '127.0.0.1' });
    const config = loadConfig({ DUCKDB_PATH: join(dir, 'tote.duckdb'), HISTORY_SPILL: 'none', HISTORY_BATCH_MAX_DELAY_MS: '50' });
    const history = createHistorySink(config.history);
    const bus = new MemoryBus();
    // The subscriber's selection set narrows the payload: compare what both sides have.
    const totalOf = (p: Record<string, unknown> | undefined) =>
      p
        ? JSON.stringify([
            p.isFinalized,
            (p.total as { grossAmounts: unknown[]; netAmounts: unknown[] }).grossAmounts,
            (p.total as { netAmounts: unknown[] }).netAmounts,
          ])
        : undefined;
    const lastSeen = new Map<string, string | undefined>();
    // Everything the subscriber received, to compute each query's answer independently.
    const received: Envelope[] = [];
    bus.subscribe((e) => {
      received.push(e);
      if (e.type === 'PoolTotalChanged') lastSeen.set(e.keys.productId!, totalOf(e.payload));
    });
    const svc = await startSubscriberService({
      tote: config.tote,
      subscriber: { ...config.subscriber, autoStart: false },
      publisher: bus,
      history,
      log: createLogger({ test: 'history-simulator' }),
      port: 0,
      host: '127.0.0.1',
      url: sim.wsUrl,
      apiKey: key,
      // The day card (names) from the simulator's query API: the subscriber keeps it in history too.
      graphqlUrl: sim.gatewayUrl,
      source: 'simulator',
    });
    let closedProducts: string[] = [];
    try {
      svc.client.start();
      await waitFor(
        () => {
          closedProducts = sim
            .plan()
            .products.map((p) => p.id)
            .filter((id) => {
              const last = sim.lastSent('onPoolTotalChanged', id);
              return last?.isFinalized === true;
            });
          return closedProducts.length >= 3;
        },
        { timeoutMs: 20_000, what: 'three products with a finalized pool total' },
      );
      // Stop the day, and let what is already on the wire arrive before stopping the socket.
      sim.pause();
      await waitFor(() => closedProducts.every((id) => lastSeen.get(id) === totalOf(sim.lastSent('onPoolTotalChanged', id))), {
        what: 'the last pool totals to reach the subscriber',
      });
    } finally {
      await svc.stopAndFlush();
      sim.pause();
      await svc.close();
      await history.close();
      await sim.close();
    }
    const st = history.status() as BatchingHistoryStatus;
    expect(st.backlog).toBe(0);
    expect(st.lost).toBe(0);

    const store = await DuckDbStore.open(config.history.duckdbPath, { readOnly: true });
    try {
      const [count] = await store.query('SELECT COUNT(*) AS n FROM tote_messages');
      expect(count!.n).toBe(st.stored);
      const totals = await store.query(loadQuery('final_pool_totals')!.duckdb);
      expect(totals.length).toBeGreaterThanOrEqual(3);
      for (const productId of closedProducts) {
        const sent = sim.lastSent('onPoolTotalChanged', productId) as {
          total: { grossAmounts: { decimalAmount: number }[]; netAmounts: { decimalAmount: number }[] };
        };
        const row = totals.find((t) => t.product_id === productId);
        expect(row, productId).toBeDefined();
        expect(row!.is_finalized).toBe(true);
        expect(row!.gross_amount).toBe(sent.total.grossAmounts[0]!.decimalAmount);
        expect(row!.net_amount).toBe(sent.total.netAmounts[0]!.decimalAmount);
        // Named as the simulator's card names it: venue, race and bet type, and a London race time.
        const plan = sim.plan().productById.get(productId)!;
        const race = sim.plan().raceById.get(plan.legs[0]!.eventId)!;
        expect(row, productId).toMatchObject({ venue: race.venue.name, event_name: race.name, bet_type: plan.betType });
        // The simulator projects its compressed day onto real instants: only the form is known here.
        expect(row!.race_time).toMatch(/^\d\d:\d\d$/);
      }
      expect(st.namesStored).toBeGreaterThan(0);
      expect(received).toHaveLength(st.stored);
      const answers = await checkDocumentedQueries(store, received, closedProducts, (id) =>
        grossOf(sim.lastSent('onPoolTotalChanged', id)),
      );
      console.log('simulated day, documented queries:', JSON.stringify(answers));
    } finally {
      store.close();
    }
  });
});

type Money = { decimalAmount: number }[];
const grossOf = (p: Record<string, unknown> | undefined): number | undefined =>
  ((p?.total as { grossAmounts?: Money } | undefined)?.grossAmounts ?? [])[0]?.decimalAmount;
const ms = (t: unknown): number =>
  t instanceof Date
    ? t.getTime()
    : Date.parse(
        String(t)
          .replace(' ', 'T')
          .replace(/([+-]\d\d)$/, '$1:00'),
      );
/** Newest first, ties broken by envelope id like the queries do. */
const newestFirst = (a: Envelope, b: Envelope) =>
  Date.parse(b.receivedAt) - Date.parse(a.receivedAt) || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0);

/**
 * The answers each documented query must give, computed in TypeScript from the
 * envelopes the subscriber received (and, for final totals, from what the
 * simulator says it sent), compared with what DuckDB answers.
 */
async function checkDocumentedQueries(
  store: DuckDbStore,
  received: readonly Envelope[],
  closedProducts: readonly string[],
  sentFinalGross: (productId: string) => number | undefined,
): Promise<Record<string, unknown>> {
  const run = (name: string) => store.query(loadQuery(name)!.duckdb);
  const pools = received.filter((e) => e.type === 'PoolTotalChanged');
  const closedAt = new Map<string, number>();
  for (const e of received) {
    if (e.type !== 'ProductStatusChanged' || String(e.payload.status).toUpperCase() !== 'CLOSED') continue;
    const id = e.keys.productId!;
    closedAt.set(id, Math.min(closedAt.get(id) ?? Infinity, Date.parse(e.receivedAt)));
  }
  const lastPoolBefore = (productId: string, atOrBefore: number, strict: boolean) =>
    pools
      .filter(
        (p) => p.keys.productId === productId && (strict ? Date.parse(p.receivedAt) < atOrBefore : Date.parse(p.receivedAt) <= atOrBefore),
      )
      .sort(newestFirst)[0];

  // message_rate_per_minute: one row per (minute, type) with the right count.
  const rate = await run('message_rate_per_minute');
  const perMinute = new Map<string, number>();
  for (const e of received) {
    const k = `${Math.floor(Date.parse(e.receivedAt) / 60_000) * 60_000}|${e.type}`;
    perMinute.set(k, (perMinute.get(k) ?? 0) + 1);
  }
  expect(new Map(rate.map((r) => [`${ms(r.minute)}|${r.message_type}`, r.messages]))).toEqual(perMinute);
  expect(rate.reduce((s, r) => s + (r.messages as number), 0)).toBe(received.length);
  expect(new Set(rate.map((r) => r.message_type))).toEqual(new Set(received.map((e) => e.type)));

  // last_total_before_close_vs_final: final = what the simulator sent last; before = last update before the close.
  const late = await run('last_total_before_close_vs_final');
  const closedWithOff = closedProducts.filter((id) => closedAt.has(id));
  expect(closedWithOff.length, 'closed products with a CLOSED status').toBeGreaterThan(0);
  for (const id of closedProducts) {
    const r = late.find((x) => x.product_id === id)!;
    expect(r.final_total, id).toBe(sentFinalGross(id));
    expect(r.is_finalized).toBe(true);
    const before = closedAt.has(id) ? lastPoolBefore(id, closedAt.get(id)!, true) : undefined;
    expect(r.last_before_close ?? undefined, id).toBe(before ? grossOf(before.payload) : undefined);
    if (before) expect(r.late_money).toBeCloseTo(sentFinalGross(id)! - grossOf(before.payload)!, 2);
  }

  // pool_growth_to_off: at the off (0 minutes before), the last update at or before the close, as a share of the final.
  const growth = await run('pool_growth_to_off');
  let growthChecked = 0;
  for (const id of closedWithOff) {
    const atOff = lastPoolBefore(id, closedAt.get(id)!, false);
    const r = growth.find((g) => g.product_id === id && g.minutes_before === 0);
    if (!atOff) {
      expect(r, id).toBeUndefined();
      continue;
    }
    expect(r!.gross_pool, id).toBe(grossOf(atOff.payload));
    expect(r!.pct_of_final).toBeCloseTo((100 * grossOf(atOff.payload)!) / sentFinalGross(id)!, 1);
    growthChecked++;
  }
  expect(growthChecked).toBeGreaterThan(0);

  // close_to_final_dividend: one row per closed product, minutes to its first FINAL dividend.
  const finals = new Map<string, number>();
  for (const e of received) {
    if (e.type !== 'PoolDividendChanged') continue;
    const divs = (e.payload.dividends as { dividend?: { status?: string } }[] | undefined) ?? [];
    if (!divs.some((d) => String(d.dividend?.status).toUpperCase() === 'FINAL')) continue;
    const id = e.keys.productId!;
    finals.set(id, Math.min(finals.get(id) ?? Infinity, Date.parse(e.receivedAt)));
  }
  const toDividend = await run('close_to_final_dividend');
  expect(new Set(toDividend.map((r) => r.product_id))).toEqual(new Set(closedAt.keys()));
  for (const r of toDividend) {
    const id = r.product_id as string;
    const fin = finals.get(id);
    if (fin === undefined) expect(r.minutes_to_final_dividend, id).toBeNull();
    else expect(r.minutes_to_final_dividend as number, id).toBeCloseTo((fin - closedAt.get(id)!) / 60_000, 1);
  }

  // bet lifecycle: one row per bet the feed accepted; the summary counts every bet once.
  const betIds = new Set(received.filter((e) => e.type.startsWith('Bet')).map((e) => e.keys.betId!));
  const accepted = new Set(received.filter((e) => e.type === 'BetAccepted').map((e) => e.keys.betId!));
  const latencies = await run('bet_lifecycle_latencies');
  expect(new Set(latencies.map((r) => r.bet_id))).toEqual(accepted);
  const summary = await run('bet_lifecycle_summary');
  expect(summary.reduce((s, r) => s + Number(r.bets), 0)).toBe(betIds.size);
  const settled = new Set(received.filter((e) => e.type === 'BetSettled').map((e) => e.keys.betId!));
  expect(Number(summary.find((r) => r.state === 'settled')?.bets ?? 0)).toBe(settled.size);

  // feed_gaps: the silent stretches of 06:00-23:00 London on the day(s) the messages arrived.
  const london = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/London',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const activeByDay = new Map<string, Set<number>>();
  for (const e of received) {
    const p = Object.fromEntries(london.formatToParts(new Date(e.receivedAt)).map((x) => [x.type, x.value]));
    const day = `${p.year}-${p.month}-${p.day}`;
    if (!activeByDay.has(day)) activeByDay.set(day, new Set());
    activeByDay.get(day)!.add(Number(p.hour) * 60 + Number(p.minute));
  }
  const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  // Today's window ends at now: the query reads the clock, so expect the gaps as of the minute before and after it ran.
  const londonNow = () => {
    const p = Object.fromEntries(london.formatToParts(new Date()).map((x) => [x.type, x.value]));
    return { day: `${p.year}-${p.month}-${p.day}`, minute: Number(p.hour) * 60 + Number(p.minute) };
  };
  const gapsAsOf = (now: { day: string; minute: number }) => {
    const out: string[] = [];
    for (const [day, active] of [...activeByDay].sort()) {
      const end = day === now.day ? Math.min(1380, Math.max(now.minute, 359)) : 1380;
      let start: number | null = null;
      for (let m = 360; m <= end; m++) {
        const silent = m < end && !active.has(m);
        if (silent && start === null) start = m;
        if (!silent && start !== null) {
          out.push(`${day} ${hhmm(start)}-${hhmm(m)}`);
          start = null;
        }
      }
    }
    return out;
  };
  const before = londonNow();
  const gaps = await run('feed_gaps');
  const after = londonNow();
  const got = gaps.map((g) => `${g.day} ${g.silent_from}-${g.silent_until}`);
  const expectedGaps = JSON.stringify(got) === JSON.stringify(gapsAsOf(before)) ? gapsAsOf(before) : gapsAsOf(after);
  expect(got).toEqual(expectedGaps);
  expect(gaps.length).toBeGreaterThan(0);

  return {
    messages: received.length,
    types: new Set(received.map((e) => e.type)).size,
    rateRows: rate.length,
    closedProducts: closedProducts.length,
    withOff: closedWithOff.length,
    finalDividends: toDividend.filter((r) => r.minutes_to_final_dividend !== null).length,
    bets: betIds.size,
    gaps: expectedGaps,
  };
}
