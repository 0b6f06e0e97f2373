import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvReader } from '../src/config/env.js';
import { readHistoryConfig } from '../src/config/history.js';
import { createHistorySink, type BatchingHistoryStatus, type HistorySink } from '../src/history/index.js';
import { DuckDbStore, type Row } from '../src/history/duckdb/duckdb-store.js';
import { historyQueries, historyViews, loadQuery, qualifyForBigQuery } from '../src/history/sql-files.js';
import { raceDay, raceDayCard, type RaceDay } from './history-races.js';

/**
 * The views and the analysts' queries, run on real DuckDB over a racing
 * afternoon written through the history sink, checked against the facts the
 * afternoon was built from.
 */
const dir = mkdtempSync(join(tmpdir(), 'tote-sql-'));
const dbPath = join(dir, 'tote.duckdb');
// 13:00 Europe/London (BST) on a summer day.
const day: RaceDay = raceDay(new Date('2026-07-01T12:00:00.000Z'), 3, 30);
let store: DuckDbStore;
let namesStored = 0;

async function run(name: string): Promise<Row[]> {
  const q = loadQuery(name);
  if (!q) throw new Error(`no query ${name}`);
  return store.query(q.duckdb);
}

beforeAll(async () => {
  const config = readHistoryConfig(new EnvReader({ HISTORY: 'duckdb', DUCKDB_PATH: dbPath, HISTORY_SPILL: 'none' }));
  const sink: HistorySink = createHistorySink(config);
  await sink.connect();
  // The card as the subscriber fetches it before the first race, then again with the first race renamed.
  await sink.writeDayCard!(raceDayCard(day, (i) => (i === 0 ? 'Race 1 (old name)' : `Race ${i + 1} Handicap`)));
  for (const e of day.envelopes) await sink.write(e);
  await sink.writeDayCard!(raceDayCard(day));
  // Unchanged: adds nothing.
  await sink.writeDayCard!(raceDayCard(day));
  await sink.close();
  namesStored = (sink.status() as BatchingHistoryStatus).namesStored;
  store = await DuckDbStore.open(dbPath, { readOnly: true });
});

afterAll(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('history views on DuckDB', () => {
  it('every view answers, and v_messages holds every envelope once', async () => {
    for (const v of historyViews()) {
      await expect(store.query(`SELECT COUNT(*) AS n FROM ${v.name}`), v.name).resolves.toBeDefined();
    }
    const [m] = await store.query('SELECT COUNT(*) AS n, COUNT(DISTINCT envelope_id) AS ids FROM v_messages');
    expect(m).toEqual({ n: day.envelopes.length, ids: day.envelopes.length });
  });

  it('types the families: pool totals as numbers, results and dividends one row per entry', async () => {
    const race = day.races[0]!;
    const [pool] = await store.query(
      `SELECT gross_amount, net_amount, currency, is_finalized FROM v_pool_totals WHERE product_id = ? AND is_finalized`,
      [race.productId],
    );
    expect(pool).toEqual({ gross_amount: race.finalGross, net_amount: race.finalNet, currency: 'GBP', is_finalized: true });
    const results = await store.query(
      `SELECT competitor_id, finishing_position FROM v_event_results WHERE event_id = ? AND result_status = 'FINAL' ORDER BY finishing_position`,
      [race.eventId],
    );
    expect(results.map((r) => r.finishing_position)).toEqual(['1', '2', '3', '4', '5']);
    const divs = await store.query(`SELECT dividend_status, amount, currency FROM v_dividends WHERE product_id = ? ORDER BY received_at`, [
      race.productId,
    ]);
    expect(divs).toEqual([
      { dividend_status: 'PROVISIONAL', amount: 3.4, currency: 'GBP' },
      { dividend_status: 'FINAL', amount: 3.4, currency: 'GBP' },
    ]);
    const [withdrawn] = await store.query(`SELECT COUNT(*) AS n FROM v_competitor_status WHERE status = 'WITHDRAWN'`);
    expect(withdrawn!.n).toBe(day.races.length);
    const [sel] = await store.query(`SELECT COUNT(*) AS n FROM v_selection_status WHERE status = 'NOT_AVAILABLE' AND leg_id IS NOT NULL`);
    expect(sel!.n).toBe(day.races.length);
    const [lines] = await store.query(`SELECT COUNT(*) AS n FROM v_lines`);
    expect(lines!.n).toBe(day.races.length);
    const states = await store.query(`SELECT state, COUNT(*) AS n FROM v_bet_lifecycle GROUP BY state ORDER BY state`);
    expect(states).toEqual([
      { state: 'rejected', n: day.races.length },
      { state: 'settled', n: 2 * day.races.length },
    ]);
    const [rej] = await store.query(`SELECT reason FROM v_bet_lifecycle WHERE bet_id = ?`, [race.rejectedBetId]);
    expect(rej!.reason).toBe('Product was not open');
  });

  it('keeps one row per envelope in the views when the raw table holds a replayed duplicate', async () => {
    const mem = await DuckDbStore.open(':memory:');
    try {
      // The raw table as BigQuery may hold it after a late replay: the same row twice
      // (a copy without the primary key the DuckDB table has).
      await mem.connection.run(`CREATE TEMP TABLE raw AS SELECT * FROM tote_messages`);
      const e = day.envelopes[0]!;
      for (let i = 0; i < 2; i++) {
        await mem.connection.run(
          `INSERT INTO raw (envelope_id, message_type, root_field, received_at, source, payload) VALUES (?, ?, ?, ?::TIMESTAMPTZ, ?, ?::JSON)`,
          [e.id, e.type, e.rootField, e.receivedAt, e.source, JSON.stringify(e.payload)],
        );
      }
      const dedupe = historyViews()
        .find((v) => v.name === 'v_messages')!
        .duckdb.replace(/\btote_messages\b/, 'raw');
      const [n] = await mem.query(`SELECT COUNT(*) AS n FROM (${dedupe}) AS v`);
      expect(n!.n).toBe(1);
    } finally {
      mem.close();
    }
  });
});

describe('names in history', () => {
  it('keeps the day card: one row per race, runner, product leg and selection, and a changed name once more', () => {
    const runners = day.races.reduce((n, r) => n + r.competitorIds.length, 0);
    // races + runners + products + selections, then the renamed race again; the unchanged third card adds nothing.
    expect(namesStored).toBe(day.races.length * 2 + runners * 2 + 1);
  });

  it('puts venue, race time and name, bet type and runner beside the ids in the views, from the latest card', async () => {
    const r0 = day.races[0]!;
    const [pool] = await store.query(
      `SELECT product_id, bet_type, venue, race_time, event_name FROM v_pool_totals WHERE product_id = ? LIMIT 1`,
      [r0.productId],
    );
    // 13:00 BST is 12:00 UTC: the race time is London's.
    expect(pool).toEqual({ product_id: r0.productId, bet_type: 'WIN', venue: 'Ascot', race_time: '13:00', event_name: 'Race 1 Handicap' });
    const results = await store.query(
      `SELECT runner_number, runner_name, finishing_position FROM v_event_results WHERE event_id = ? AND result_status = 'FINAL' ORDER BY finishing_position`,
      [r0.eventId],
    );
    expect(results[0]).toEqual({ runner_number: 1, runner_name: 'Runner 1-1', finishing_position: '1' });
    const [nr] = await store.query(`SELECT runner_number, runner_name, status FROM v_competitor_status WHERE event_id = ?`, [r0.eventId]);
    expect(nr).toEqual({ runner_number: 6, runner_name: 'Runner 1-6', status: 'WITHDRAWN' });
    const [sel] = await store.query(`SELECT runner_name, bet_type, venue FROM v_selection_status WHERE product_id = ?`, [r0.productId]);
    expect(sel).toEqual({ runner_name: 'Runner 1-6', bet_type: 'WIN', venue: 'Ascot' });
    const [div] = await store.query(`SELECT bet_type, race_time FROM v_dividends WHERE product_id = ? LIMIT 1`, [r0.productId]);
    expect(div).toEqual({ bet_type: 'WIN', race_time: '13:00' });
  });

  it('names the documented queries too: final_pool_totals reads by venue, race time and bet type', async () => {
    const rows = await run('final_pool_totals');
    expect(rows.map((r) => `${r.venue} ${r.race_time} ${r.bet_type}`).sort()).toEqual([
      'Ascot 13:00 WIN',
      'Ascot 13:30 WIN',
      'Ascot 14:00 WIN',
    ]);
    for (const q of ['pool_growth_to_off', 'close_to_final_dividend', 'last_total_before_close_vs_final']) {
      expect((await run(q)).every((r) => r.venue === 'Ascot' && r.bet_type === 'WIN')).toBe(true);
    }
  });
});

describe('analysis queries on DuckDB', () => {
  it('final_pool_totals: each product ends at the finalized total the feed sent', async () => {
    const rows = await run('final_pool_totals');
    expect(rows).toHaveLength(day.races.length);
    for (const race of day.races) {
      const r = rows.find((x) => x.product_id === race.productId)!;
      expect(r.gross_amount).toBe(race.finalGross);
      expect(r.net_amount).toBe(race.finalNet);
      expect(r.is_finalized).toBe(true);
    }
  });

  it('pool_growth_to_off: the pool at each mark before the off, as a share of the final', async () => {
    const rows = await run('pool_growth_to_off');
    for (const race of day.races) {
      const mine = rows.filter((r) => r.product_id === race.productId);
      expect(mine.map((r) => r.minutes_before)).toEqual([30, 15, 10, 5, 2, 1, 0]);
      for (const r of mine) {
        const mark = r.minutes_before as number;
        // The last update at or before the mark: the smallest scheduled minute >= mark.
        const m = Math.min(...[...race.grossAtMinutesBefore.keys()].filter((k) => k >= mark));
        const gross = race.grossAtMinutesBefore.get(m)!;
        expect(r.gross_pool).toBe(gross);
        expect(r.pct_of_final).toBeCloseTo((100 * gross) / race.finalGross, 1);
      }
    }
  });

  it('last_total_before_close_vs_final: the late money after the off', async () => {
    const rows = await run('last_total_before_close_vs_final');
    for (const race of day.races) {
      const r = rows.find((x) => x.product_id === race.productId)!;
      expect(r.last_before_close).toBe(race.lastGrossBeforeClose);
      expect(r.final_total).toBe(race.finalGross);
      expect(r.late_money).toBeCloseTo(race.finalGross - race.lastGrossBeforeClose, 2);
    }
  });

  it('close_to_final_dividend: minutes from the close to the first FINAL dividend', async () => {
    const rows = await run('close_to_final_dividend');
    for (const race of day.races) {
      const r = rows.find((x) => x.product_id === race.productId)!;
      expect(r.minutes_to_final_dividend).toBe((race.finalDividendAt.getTime() - race.closedAt.getTime()) / 60_000);
    }
    // Slowest first.
    expect(rows[0]!.product_id).toBe(day.races.at(-1)!.productId);
  });

  it('message_rate_per_minute: counts add up to every message, per type and minute', async () => {
    const rows = await run('message_rate_per_minute');
    expect(rows.reduce((s, r) => s + (r.messages as number), 0)).toBe(day.envelopes.length);
    const expected = new Map<string, number>();
    for (const e of day.envelopes) {
      const minute = new Date(Math.floor(Date.parse(e.receivedAt) / 60_000) * 60_000).toISOString();
      expected.set(`${minute}|${e.type}`, (expected.get(`${minute}|${e.type}`) ?? 0) + 1);
    }
    expect(rows).toHaveLength(expected.size);
    for (const r of rows) {
      const minute = new Date(String(r.minute).replace(' ', 'T').replace(/\+00$/, 'Z')).toISOString();
      expect(r.messages, `${minute} ${r.message_type}`).toBe(expected.get(`${minute}|${r.message_type}`));
    }
  });

  it('bet_lifecycle_latencies and summary: accepted -> resulted -> settled in seconds', async () => {
    const rows = await run('bet_lifecycle_latencies');
    const bets = day.races.flatMap((r) => r.bets);
    expect(rows).toHaveLength(bets.length);
    for (const b of bets) {
      const r = rows.find((x) => x.bet_id === b.betId)!;
      expect(r.state).toBe('settled');
      expect(r.accepted_to_resulted_s).toBe((b.resultedAt.getTime() - b.acceptedAt.getTime()) / 1000);
      expect(r.resulted_to_settled_s).toBe((b.settledAt.getTime() - b.resultedAt.getTime()) / 1000);
      expect(r.accepted_to_settled_s).toBe((b.settledAt.getTime() - b.acceptedAt.getTime()) / 1000);
    }
    const summary = await run('bet_lifecycle_summary');
    const settled = summary.find((s) => s.state === 'settled')!;
    expect(settled.bets).toBe(bets.length);
    const worst = Math.max(...bets.map((b) => (b.settledAt.getTime() - b.acceptedAt.getTime()) / 1000));
    expect(settled.max_accepted_to_settled_s).toBe(worst);
  });

  it('feed_gaps: the silent stretches of the 06:00-23:00 London window', async () => {
    const rows = await run('feed_gaps');
    // Minutes of the London day (BST = UTC+1) with any message.
    const active = new Set(day.envelopes.map((e) => Math.floor((Date.parse(e.receivedAt) + 3_600_000) / 60_000) % 1440));
    const expected: { from: number; until: number }[] = [];
    let start: number | null = null;
    for (let m = 360; m <= 1380; m++) {
      const silent = m < 1380 && !active.has(m);
      if (silent && start === null) start = m;
      if (!silent && start !== null) {
        expected.push({ from: start, until: m });
        start = null;
      }
    }
    const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    expect(rows.map((r) => `${r.silent_from}-${r.silent_until}`)).toEqual(expected.map((g) => `${hhmm(g.from)}-${hhmm(g.until)}`));
    expect(rows[0]).toMatchObject({ day: '2026-07-01', silent_from: '06:00', silent_until: '12:20' });
    expect(rows.reduce((s, r) => s + (r.silent_minutes as number), 0)).toBe(expected.reduce((s, g) => s + g.until - g.from, 0));
  });

  it('feed_gaps: a day with no message at all is one gap over the whole window', async () => {
    const mem = await DuckDbStore.open(':memory:');
    try {
      // 13:00 BST on the 1st and 10:15 BST on the 3rd; nothing on the 2nd.
      for (const [id, at] of [
        ['a', '2026-07-01T12:00:30Z'],
        ['b', '2026-07-03T09:15:10Z'],
      ] as const) {
        await mem.connection.run(
          `INSERT INTO tote_messages (envelope_id, message_type, root_field, received_at, source, payload) VALUES (?, 'PoolTotalChanged', 'onPoolTotalChanged', ?::TIMESTAMPTZ, 'test', '{}'::JSON)`,
          [id, at],
        );
      }
      const rows = await mem.query(loadQuery('feed_gaps')!.duckdb);
      expect(rows).toEqual([
        { day: '2026-07-01', silent_from: '06:00', silent_until: '13:00', silent_minutes: 420 },
        { day: '2026-07-01', silent_from: '13:01', silent_until: '23:00', silent_minutes: 599 },
        { day: '2026-07-02', silent_from: '06:00', silent_until: '23:00', silent_minutes: 1020 },
        { day: '2026-07-03', silent_from: '06:00', silent_until: '10:15', silent_minutes: 255 },
        { day: '2026-07-03', silent_from: '10:16', silent_until: '23:00', silent_minutes: 764 },
      ]);
    } finally {
      mem.close();
    }
  });

  it('feed_gaps: today ends at now, not at 23:00 (the rest of the day has not happened yet)', async () => {
    const mem = await DuckDbStore.open(':memory:');
    const london = (d: Date) => {
      const [h, m] = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
        .format(d)
        .split(':');
      return Number(h) * 60 + Number(m);
    };
    const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    try {
      const at = new Date(Date.now() - 2 * 60_000);
      await mem.connection.run(
        `INSERT INTO tote_messages (envelope_id, message_type, root_field, received_at, source, payload) VALUES ('now', 'PoolTotalChanged', 'onPoolTotalChanged', ?::TIMESTAMPTZ, 'test', '{}'::JSON)`,
        [at.toISOString()],
      );
      const before = london(new Date());
      const rows = await mem.query(loadQuery('feed_gaps')!.duckdb);
      const after = london(new Date());
      const ends = rows.map((r) => String(r.silent_until));
      expect(ends.every((e) => e <= hhmm(Math.max(after, 360)) || (e === '23:00' && after >= 1380))).toBe(true);
      // Inside the window, the last gap runs up to the minute under way (two readings: the minute may turn meanwhile).
      if (before > 363 && after < 1380 && before === after) expect(ends.at(-1)).toBe(hhmm(after));
    } finally {
      mem.close();
    }
  });

  it('every query file says what it answers and runs', async () => {
    const queries = historyQueries();
    expect(queries.length).toBeGreaterThanOrEqual(8);
    for (const q of queries) {
      expect(q.description.length, q.name).toBeGreaterThan(20);
      await expect(store.query(q.duckdb), q.name).resolves.toBeDefined();
    }
  });
});

describe('the BigQuery texts', () => {
  it('differ from their DuckDB twins only in the UNNEST alias form', () => {
    const split = [...historyViews(), ...historyQueries()].filter((f) => f.split);
    expect(split.map((f) => f.name).sort()).toEqual(['v_dividends', 'v_event_results']);
    const code = (sql: string) =>
      sql
        .split('\n')
        .filter((l) => !l.trim().startsWith('--'))
        .join('\n');
    for (const f of split) {
      expect(code(f.duckdb).replace(/\bAS u\((\w+)\)/g, 'AS $1'), f.name).toBe(code(f.bigquery));
    }
  });

  it('qualify every table and view name for BigQuery views, and nothing else', () => {
    const v = historyViews().find((x) => x.name === 'v_dividends')!;
    const q = qualifyForBigQuery(v.bigquery, 'proj', 'tote');
    expect(q).toContain('FROM `proj.tote.v_messages` AS m');
    expect(q).toContain("JSON_QUERY_ARRAY(m.payload, '$.dividends')) AS d");
    expect(q).not.toMatch(/`proj\.tote\.(m|d|payload)`/);
    const base = qualifyForBigQuery(historyViews().find((v) => v.name === 'v_messages')!.bigquery, 'proj', 'tote');
    expect(base).toContain('FROM `proj.tote.tote_messages`');
    expect(base).toContain('PARTITION BY received_at, envelope_id');
  });
});
