import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EnvReader } from '../src/config/env.js';
import { readHistoryConfig } from '../src/config/history.js';
import { DuckDbStore } from '../src/history/duckdb/duckdb-store.js';
import { createHistorySink, type BatchingHistoryStatus } from '../src/history/index.js';
import { DEAD_LETTER_COLUMNS, DEAD_LETTERS_TABLE, MESSAGE_COLUMNS, MESSAGES_TABLE } from '../src/history/schema.js';
import { historyViews } from '../src/history/sql-files.js';
import { setLogLevel } from '../src/log/logger.js';
import { FakeBigQuery } from './bigquery-server/fake-bigquery.js';
import { localAuthClient } from './bigquery-server/local-auth.js';
import { raceDay } from './history-races.js';

/**
 * BigQuery remembers a streaming insertId for about a minute. A request that
 * stored its rows but timed out on the way back is retried with the same
 * insertIds: inside the minute the retry is dropped, after it the raw table
 * holds the rows twice. v_messages keeps one row per envelope, so the
 * analysis does not count them twice. The stand-in's clock is moved by hand,
 * so "a minute later" takes no time.
 */
const PROJECT = 'tote-window';
const DATASET = 'tote';
const WINDOW_MS = 60_000;
let fake: FakeBigQuery | undefined;

beforeAll(() => setLogLevel('ERROR'));
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

describe('insertId dedupe window', () => {
  it('a retry inside the window is dropped, one after it duplicates raw rows, and v_messages removes them', async () => {
    let clock = 0;
    fake = await FakeBigQuery.start({
      project: PROJECT,
      dataset: DATASET,
      schemas: { [MESSAGES_TABLE]: MESSAGE_COLUMNS, [DEAD_LETTERS_TABLE]: DEAD_LETTER_COLUMNS },
      dedupeWindowMs: WINDOW_MS,
      now: () => clock,
    });
    const cfg = readHistoryConfig(
      new EnvReader({
        HISTORY: 'bigquery',
        BQ_PROJECT: PROJECT,
        BQ_DATASET: DATASET,
        BQ_API_ENDPOINT: fake.url,
        HISTORY_SPILL: 'none',
        HISTORY_BATCH_MAX_ROWS: '10',
        HISTORY_BATCH_MAX_DELAY_MS: '5',
        HISTORY_RETRY_INITIAL_MS: '2',
        HISTORY_RETRY_MAX_MS: '10',
        HISTORY_REQUEST_TIMEOUT_MS: '150',
      }),
    );
    const sent = raceDay(new Date('2026-07-01T12:00:00Z'), 1, 15).envelopes.slice(0, 20);
    const early = sent.slice(0, 10);
    const late = sent.slice(10);
    // A request with rows never tried before is stored but never answered; its retry
    // comes at once for the early rows, and after the window for the late ones.
    const tried = new Set<string>();
    let retryLate = false;
    fake.setFaults(({ table, rows }) => {
      if (table !== MESSAGES_TABLE) return null;
      const fresh = rows.some((r) => !tried.has(r.insertId));
      rows.forEach((r) => tried.add(r.insertId));
      if (fresh) return { kind: 'storeThenHang' };
      if (retryLate) clock += WINDOW_MS + 1_000;
      return null;
    });

    const sink = createHistorySink(cfg, { bigqueryClientOptions: { authClient: localAuthClient() } });
    await sink.connect();
    for (const e of early) await sink.write(e);
    await sink.flush();
    retryLate = true;
    for (const e of late) await sink.write(e);
    await sink.flush();
    await sink.close();
    const st = sink.status() as BatchingHistoryStatus;

    const raw = fake.rows(MESSAGES_TABLE);
    const rawIds = new Set(raw.map((r) => String(r.json.envelope_id)));
    // The raw table as BigQuery would hold it, read through the same v_messages SQL on DuckDB.
    const db = await DuckDbStore.open(':memory:');
    let viewRows: number;
    let viewIds: number;
    try {
      await db.connection.run(`CREATE TEMP TABLE raw AS SELECT * FROM ${MESSAGES_TABLE} WHERE FALSE`);
      const cast = (t: string) => (t === 'TIMESTAMP' ? '?::TIMESTAMPTZ' : t === 'JSON' ? '?::JSON' : '?');
      const insert = `INSERT INTO raw (${MESSAGE_COLUMNS.map((c) => c.name).join(', ')}) VALUES (${MESSAGE_COLUMNS.map((c) => cast(c.type)).join(', ')})`;
      for (const r of raw)
        await db.connection.run(
          insert,
          MESSAGE_COLUMNS.map((c) => (r.json[c.name] ?? null) as string | null),
        );
      const vMessages = historyViews().find((v) => v.name === 'v_messages')!;
      expect(vMessages.name).toBe('v_messages');
      const [v] = await db.query(
        `SELECT COUNT(*) AS n, COUNT(DISTINCT envelope_id) AS ids FROM (${vMessages.duckdb.replace(/\btote_messages\b/, 'raw')}) AS v`,
      );
      viewRows = Number(v!.n);
      viewIds = Number(v!.ids);
    } finally {
      db.close();
    }

    const figures = {
      rowsSent: sent.length,
      writerStored: st.stored,
      retriesDroppedInsideWindow: fake.duplicatesDropped,
      rawRows: raw.length,
      rawDuplicates: raw.length - rawIds.size,
      vMessagesRows: viewRows,
      removedByView: raw.length - viewRows,
      lost: sent.filter((e) => !rawIds.has(e.id)).length,
    };
    console.log('insertId dedupe window:', JSON.stringify(figures));
    expect(st.lost).toBe(0);
    // Inside the window: the early rows' retry was dropped by insertId.
    expect(fake.duplicatesDropped).toBe(early.length);
    // After it: the late rows are in the raw table twice.
    expect(figures.rawDuplicates).toBe(late.length);
    expect(raw.filter((r) => late.some((e) => e.id === r.insertId))).toHaveLength(2 * late.length);
    expect(figures.lost).toBe(0);
    // v_messages: one row per envelope again.
    expect(viewRows).toBe(sent.length);
    expect(viewIds).toBe(sent.length);
  });
});
