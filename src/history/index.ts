import type { BigQueryOptions } from '@google-cloud/bigquery';
import type { HistoryConfig } from '../config/history.js';
import { BatchingHistorySink } from './batching-sink.js';
import { BigQueryInserter } from './bigquery/bigquery-inserter.js';
import { DuckDbInserter } from './duckdb/duckdb-inserter.js';
import { NoneHistorySink } from './none-sink.js';
import { FileSpill } from './spill/file-spill.js';
import { PubsubSpill } from './spill/pubsub-spill.js';
import type { HistorySpill } from './spill/spill.js';
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
  if (config.kind === 'duckdb') return new BatchingHistorySink('duckdb', new DuckDbInserter(config.duckdbPath), spill, limits);
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
export { DuckDbStore } from './duckdb/duckdb-store.js';
