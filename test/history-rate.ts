import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { entryForMessageType } from '../src/catalog/catalog.js';
import { EnvReader } from '../src/config/env.js';
import { readHistoryConfig } from '../src/config/history.js';
import { makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { createHistorySink, type BatchingHistoryStatus } from '../src/history/index.js';
import { setLogLevel } from '../src/log/logger.js';

/**
 * How fast the DuckDB history stores rows through the same sink the
 * subscriber uses (batching lane, inserter, real DuckDB file in a temporary
 * folder). For `npm run bench` and for comparing changes by hand:
 *
 *   npx tsx test/history-rate.ts [rows] [share of payloads with a lone surrogate]
 *
 * Not a test: it asserts nothing about speed, it reports it.
 */
export interface HistoryRate {
  rows: number;
  stored: number;
  deadLettered: number;
  seconds: number;
  rowsPerSecond: number;
  /** Process CPU (user + system) per 10,000 rows. */
  cpuSecondsPer10k: number;
}

const origin = { source: 'test', protocol: 'graphql-ws' as const, connectionId: 'rate', instanceId: 'rate' };

/** Pool-total envelopes shaped like Tote's, `loneSurrogateShare` of them carrying a lone high surrogate in a text field. */
export function rateEnvelopes(rows: number, loneSurrogateShare = 0): Envelope[] {
  const entry = entryForMessageType('PoolTotalChanged')!;
  const every = loneSurrogateShare > 0 ? Math.round(1 / loneSurrogateShare) : 0;
  const t0 = Date.parse('2026-07-01T12:00:00.000Z');
  return Array.from({ length: rows }, (_, i) => {
    const productId = `prod-${i % 200}`;
    const payload = {
      productId,
      isFinalized: false,
      total: {
        grossAmounts: [{ decimalAmount: 1000 + i, currency: { code: every && i % every === 0 ? 'GB\ud800' : 'GBP' } }],
        netAmounts: [{ decimalAmount: 740 + i, currency: { code: 'GBP' } }],
      },
    };
    return makeEnvelope(entry, payload, { productId }, origin, new Date(t0 + i));
  });
}

export async function measureDuckDbHistoryRate(rows = 20_000, loneSurrogateShare = 0): Promise<HistoryRate> {
  const dir = mkdtempSync(join(tmpdir(), 'tote-history-rate-'));
  const envelopes = rateEnvelopes(rows, loneSurrogateShare);
  const sink = createHistorySink(
    readHistoryConfig(
      new EnvReader({
        DUCKDB_PATH: join(dir, 'tote.duckdb'),
        HISTORY_SPILL: 'none',
        HISTORY_BATCH_MAX_DELAY_MS: '50',
        ...(process.env.RATE_BATCH ? { HISTORY_BATCH_MAX_ROWS: process.env.RATE_BATCH } : {}),
      }),
    ),
  );
  try {
    await sink.connect();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    // As the ingest core does: writes are not awaited one by one, backpressure makes them wait.
    await Promise.all(envelopes.map((e) => sink.write(e)));
    await sink.flush();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const st = sink.status() as BatchingHistoryStatus;
    return {
      rows,
      stored: st.stored,
      deadLettered: st.deadLettered,
      seconds,
      rowsPerSecond: Math.round(rows / seconds),
      cpuSecondsPer10k: ((cpu.user + cpu.system) / 1e6) * (10_000 / rows),
    };
  } finally {
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  setLogLevel('ERROR');
  const rows = Number(process.argv[2] ?? 20_000);
  const share = Number(process.argv[3] ?? 0);
  console.log(JSON.stringify(await measureDuckDbHistoryRate(rows, share)));
}
