import type { BigQueryOptions } from '@google-cloud/bigquery';
import type { HistoryConfig } from '../config/history.js';
import { BatchingHistorySink } from './batching-sink.js';
import { BigQueryInserter } from './bigquery/bigquery-inserter.js';
import { NoneHistorySink } from './none-sink.js';
import { FileSpill } from './spill/file-spill.js';
import { PubsubSpill } from './spill/pubsub-spill.js';
import type { HistorySpill } from './spill/spill.js';
import { allRetry, type RowInserter } from './inserter.js';
import type { HistorySink } from './types.js';

export interface HistorySinkOptions {
  /** Extra BigQuery client options (e.g. authClient for a local stand-in server). */
  bigqueryClientOptions?: BigQueryOptions;
  /** Replaces the configured spill (tests). */
  spill?: HistorySpill | null;
}

/** The spill the configuration asks for; null when spilling is off (backpressure only). */
export function createHistorySpill(config: HistoryConfig): HistorySpill | null {
  const s = config.spill;
  if (s.kind === 'pubsub') {
    return new PubsubSpill({
      projectId: s.projectId,
      topic: s.topic,
      subscription: s.subscription,
      emulatorHost: s.emulatorHost,
      createTopics: s.createTopics,
    });
  }
  if (s.kind === 'file') return new FileSpill(s.filePath);
  return null;
}

/**
 * The DuckDB inserter, with DuckDB's native module (about 35 MB of memory and half a second to load)
 * imported at connect, so only HISTORY=duckdb loads it: the cloud services never do, and their image
 * does not carry it.
 */
function duckDbInserter(path: string): RowInserter {
  let inner: RowInserter | null = null;
  return {
    name: 'duckdb',
    async connect() {
      if (!inner) {
        let mod: typeof import('./duckdb/duckdb-inserter.js');
        try {
          mod = await import('./duckdb/duckdb-inserter.js');
        } catch (err) {
          const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND';
          throw new Error(
            missing
              ? 'HISTORY=duckdb needs the optional package @duckdb/node-api, which is not installed: run npm install (or choose HISTORY=bigquery or none)'
              : `HISTORY=duckdb could not load DuckDB: ${(err as Error).message}`,
          );
        }
        inner = new mod.DuckDbInserter(path);
      }
      await inner.connect();
    },
    insert: (table, rows) => (inner ? inner.insert(table, rows) : Promise.resolve(allRetry(rows, 'DuckDB history store is not connected'))),
    close: () => inner?.close() ?? Promise.resolve(),
  };
}

/** DuckDB, BigQuery or none, as HISTORY says. Call connect() before the first write. */
export function createHistorySink(config: HistoryConfig, opts: HistorySinkOptions = {}): HistorySink {
  if (config.kind === 'none') return new NoneHistorySink();
  const spill = opts.spill !== undefined ? opts.spill : createHistorySpill(config);
  const limits = {
    batch: config.batch,
    buffer: config.buffer,
    retry: config.retry,
    spillAfterMs: config.spill.afterMs,
    closeTimeoutMs: config.closeTimeoutMs,
  };
  if (config.kind === 'duckdb') return new BatchingHistorySink('duckdb', duckDbInserter(config.duckdbPath), spill, limits);
  const inserter = new BigQueryInserter({
    projectId: config.bigquery.projectId,
    dataset: config.bigquery.dataset,
    requestTimeoutMs: config.bigquery.requestTimeoutMs,
    apiEndpoint: config.bigquery.apiEndpoint,
    ...(opts.bigqueryClientOptions ? { clientOptions: opts.bigqueryClientOptions } : {}),
  });
  return new BatchingHistorySink('bigquery', inserter, spill, limits);
}

export type { HistorySink, HistoryStatus } from './types.js';
export type { BatchingHistoryStatus } from './batching-sink.js';
export { HistoryClosedError } from './lane.js';
export { HISTORY_SPILL_SUBSCRIPTION, HISTORY_SPILL_TOPIC } from './spill/names.js';
export { bigqueryViews, historyViews, historyQueries, qualifyForBigQuery, VIEW_NAMES } from './sql-files.js';
