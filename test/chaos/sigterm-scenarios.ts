import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { createHistorySink } from '../../src/history/index.js';
import { DuckDbStore } from '../../src/history/duckdb/duckdb-store.js';
import { DEAD_LETTER_COLUMNS, DEAD_LETTERS_TABLE, MESSAGE_COLUMNS, MESSAGES_TABLE } from '../../src/history/schema.js';
import { FakeBigQuery } from '../bigquery-server/fake-bigquery.js';
import { localAuthClient } from '../bigquery-server/local-auth.js';
import { waitFor } from '../helpers/ports.js';
import { startHarness, TEST_KEY } from '../helpers/subscriber-harness.js';
import { rssSampler } from './parts.js';
import type { Row, Scenario } from './scenarios.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms)); // paces a feed; never used to wait for a result

/** Envelope ids in a JSONL spill file (each line one row as it would have been stored). */
function spilledIds(file: string): string[] {
  if (!existsSync(file)) return [];
  return [...readFileSync(file, 'utf8').matchAll(/"envelope_id":"([^"]+)"/g)].map((m) => m[1]!);
}

/**
 * The shutdown a SIGTERM starts (stop the socket, drain the publisher, flush
 * and close history), taken while a burst is being written: every message
 * received must be published (or outboxed) and in history once, or in the
 * spill file that the next start replays.
 */
async function sigtermMidBurst(store: 'duckdb' | 'bigquery', full: boolean): Promise<Row> {
  const name = `SIGTERM mid-burst, ${store === 'duckdb' ? 'DuckDB' : 'BigQuery stand-in'}`;
  const dir = mkdtempSync(join(tmpdir(), `tote-chaos-sigterm-${store}-`));
  const spill = join(dir, 'spill.jsonl');
  const fake =
    store === 'bigquery'
      ? await FakeBigQuery.start({
          project: 'chaos',
          dataset: 'tote',
          schemas: { [MESSAGES_TABLE]: MESSAGE_COLUMNS, [DEAD_LETTERS_TABLE]: DEAD_LETTER_COLUMNS },
        })
      : undefined;
  const env: Record<string, string> =
    store === 'duckdb'
      ? { HISTORY: 'duckdb', DUCKDB_PATH: join(dir, 'tote.duckdb'), HISTORY_SPILL_FILE: spill, HISTORY_BATCH_MAX_DELAY_MS: '5' }
      : {
          HISTORY: 'bigquery',
          BQ_PROJECT: 'chaos',
          BQ_DATASET: 'tote',
          BQ_API_ENDPOINT: fake!.url,
          HISTORY_SPILL: 'file',
          HISTORY_SPILL_FILE: spill,
        };
  const cfg = loadConfig({ ...env, TOTE_SUBSCRIPTIONS_URL: 'ws://unused', TOTE_API_KEY: TEST_KEY });
  const history = createHistorySink(cfg.history, store === 'bigquery' ? { bigqueryClientOptions: { authClient: localAuthClient() } } : {});
  const h = await startHarness({ env, history });
  const rss = rssSampler();
  try {
    h.service.start();
    await waitFor(() => h.service.client.status().state === 'running' && h.sim.stats().operations === 15, {
      timeoutMs: 20_000,
      what: 'connected and subscribed',
    });
    const totals = () =>
      (h.service.status() as any).totals as { received: number; published: number; outboxed: number; deadLettered: number };
    const stored = () => ((h.service.status() as any).history as { stored: number }).stored;
    // A burst of 1,000 msg/s; the stop comes once history is busy storing it.
    const ticks = full ? 100 : 30;
    let stopping: Promise<unknown> | undefined;
    for (let i = 0; i < ticks && !stopping; i++) {
      h.sim.faults.burst(100);
      // Right after a burst was written: frames on the socket, in ingest, in the publisher and in history batches.
      if (i >= ticks / 2 && stored() > 0) stopping = h.service.stopAndFlush();
      else await pause(100);
    }
    await (stopping ?? h.service.stopAndFlush());
    const t = totals();
    const received = h.envelopes.map((e) => e.id);
    let rows: string[];
    if (fake) rows = fake.rows(MESSAGES_TABLE).map((r) => String(r.insertId));
    else {
      await history.close();
      const db = await DuckDbStore.open(env.DUCKDB_PATH!, { readOnly: true });
      try {
        rows = (await db.query(`SELECT envelope_id FROM ${MESSAGES_TABLE}`)).map((r) => String(r.envelope_id));
      } finally {
        db.close();
      }
    }
    const spilled = spilledIds(spill);
    const kept = new Set([...rows, ...spilled]);
    return {
      scenario: name,
      sent: t.received,
      received: t.received,
      published: t.published,
      stored: rows.length,
      deadLettered: t.deadLettered,
      lost: t.received - t.published - t.outboxed - t.deadLettered + received.filter((id) => !kept.has(id)).length,
      duplicated: rows.length - new Set(rows).size,
      peakRssMb: rss.stop(),
      note: `stopped mid-burst with ${t.received} received; ${spilled.length} rows spilled for replay, ${t.outboxed} outboxed; sent counts what reached the subscriber before the stop`,
    };
  } finally {
    rss.stop();
    await h.close();
    await fake?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const sigtermDuckdb: Scenario = { name: 'SIGTERM mid-burst, DuckDB', short: true, run: (o) => sigtermMidBurst('duckdb', o.full) };
export const sigtermBigquery: Scenario = {
  name: 'SIGTERM mid-burst, BigQuery stand-in',
  short: true,
  run: (o) => sigtermMidBurst('bigquery', o.full),
};
