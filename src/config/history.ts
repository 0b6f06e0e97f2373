import { dirname, join } from 'node:path';
import { HISTORY_SPILL_SUBSCRIPTION, HISTORY_SPILL_TOPIC } from '../history/spill/names.js';
import type { EnvReader } from './env.js';

export type HistoryKind = 'duckdb' | 'bigquery' | 'none';
export type SpillKind = 'pubsub' | 'file' | 'none';

export interface HistoryConfig {
  /** duckdb: embedded file (local); bigquery: streaming inserts; none: history off. */
  kind: HistoryKind;
  duckdbPath: string;
  bigquery: {
    /** Project holding the dataset; '' lets the client use the ambient Google Cloud project. */
    projectId: string;
    dataset: string;
    /** Only for a local stand-in server (tests); unset in the cloud. */
    apiEndpoint: string | undefined;
    requestTimeoutMs: number;
  };
  batch: {
    maxRows: number;
    maxBytes: number;
    maxDelayMs: number;
  };
  /** Rows accepted and not yet stored, per table. At the limit write() waits, or the rows spill. */
  buffer: {
    maxRows: number;
    maxBytes: number;
  };
  retry: {
    initialMs: number;
    maxMs: number;
  };
  spill: {
    /** pubsub: a topic that outlives the instance; file: JSONL beside the DuckDB file; none: backpressure only. */
    kind: SpillKind;
    /** Rows whose batch has failed for this long are spilled instead of retried further. */
    afterMs: number;
    topic: string;
    subscription: string;
    projectId: string;
    /** Pub/Sub emulator host:port, when the spill topic lives on the emulator. */
    emulatorHost: string | undefined;
    /** Create the spill topic and subscription at start (the emulator; in the cloud they come from infra). */
    createTopics: boolean;
    filePath: string;
  };
  /** close() tries to store what is left for this long, then spills the rest. */
  closeTimeoutMs: number;
}

export function readHistoryConfig(r: EnvReader): HistoryConfig {
  const kind = r.oneOf<HistoryKind>('HISTORY', 'duckdb', ['duckdb', 'bigquery', 'none']);
  const gcpProject = r.str('GOOGLE_CLOUD_PROJECT', '');
  const spillKind = r.oneOf<SpillKind>('HISTORY_SPILL', kind === 'bigquery' ? 'pubsub' : 'file', ['pubsub', 'file', 'none']);
  // Same rule as the bus: the emulator only on BUS=pubsub, never because
  // PUBSUB_EMULATOR_HOST was left in a shell (spilled rows would vanish with it).
  const busIsPubsub = r.str('BUS', 'memory') === 'pubsub';
  const emulatorHost = spillKind === 'pubsub' && busIsPubsub ? r.optionalStr('PUBSUB_EMULATOR_HOST') : undefined;
  // The spill lives beside the rows it stands in for.
  const spillProject = r.str('HISTORY_SPILL_PROJECT', r.str('BQ_PROJECT', gcpProject) || (emulatorHost ? 'local-tote' : ''));
  if (kind === 'bigquery' && spillKind === 'pubsub' && !spillProject) {
    r.fail('BQ_PROJECT, GOOGLE_CLOUD_PROJECT or HISTORY_SPILL_PROJECT is required when HISTORY=bigquery spills to Pub/Sub');
  }
  // Google's recommended insertAll batch (hard cap 50,000 rows). DuckDB pays per transaction (the commit, the
  // statements around the appender), not per row: at 5,000 it kept up with a 100,000-frame burst 1.1-1.9x faster
  // than at 2,000, and a batch is still well under a second of work at close.
  const batchMaxRows = r.int('HISTORY_BATCH_MAX_ROWS', kind === 'duckdb' ? 5_000 : 500, 1, 10_000);
  const bufferMaxRows = r.int('HISTORY_BUFFER_MAX_ROWS', 20_000, 1);
  if (bufferMaxRows < batchMaxRows) r.fail('HISTORY_BUFFER_MAX_ROWS must be at least HISTORY_BATCH_MAX_ROWS');
  // Beside the checkout, ignored by git; analysts query it with `npm run sql`.
  const duckdbPath = r.str('DUCKDB_PATH', './data/tote.duckdb');
  return {
    kind,
    duckdbPath,
    bigquery: {
      // The default: the Google Cloud project the service runs in.
      projectId: r.str('BQ_PROJECT', gcpProject),
      // One dataset per environment; the CDKTF stack creates it.
      dataset: r.str('BQ_DATASET', 'tote'),
      apiEndpoint: r.optionalStr('BQ_API_ENDPOINT'),
      // insertAll answers in well under a second; 30 s covers a slow backend without holding a batch for minutes.
      requestTimeoutMs: r.int('HISTORY_REQUEST_TIMEOUT_MS', 30_000, 10, 600_000),
    },
    batch: {
      maxRows: batchMaxRows,
      // Half the 10 MB request cap: leaves room for JSON encoding overhead.
      maxBytes: r.int('HISTORY_BATCH_MAX_BYTES', 5 * 1024 * 1024, 1024, 9 * 1024 * 1024),
      // History is not live: a second of batching turns a trickle into few requests.
      maxDelayMs: r.int('HISTORY_BATCH_MAX_DELAY_MS', 1_000, 0, 60_000),
    },
    buffer: {
      // About an hour of a busy racing afternoon's feed; ~20 MB of rows at ~1 KB each.
      maxRows: bufferMaxRows,
      // A hard cap on memory whatever the row size; Cloud Run's smallest instance has 512 MiB.
      maxBytes: r.int('HISTORY_BUFFER_MAX_BYTES', 64 * 1024 * 1024, 1024),
    },
    retry: {
      // Short first retry: most insertAll failures are one-off 5xx.
      initialMs: r.int('HISTORY_RETRY_INITIAL_MS', 500, 1, 60_000),
      // Capped so a recovered warehouse is noticed within half a minute.
      maxMs: r.int('HISTORY_RETRY_MAX_MS', 30_000, 1, 600_000),
    },
    spill: {
      kind: spillKind,
      // Two minutes rides out a deploy or a short BigQuery incident without touching the spill.
      afterMs: r.int('HISTORY_SPILL_AFTER_MS', 120_000, 0),
      topic: r.str('HISTORY_SPILL_TOPIC', HISTORY_SPILL_TOPIC),
      subscription: r.str('HISTORY_SPILL_SUBSCRIPTION', HISTORY_SPILL_SUBSCRIPTION),
      projectId: spillProject,
      emulatorHost,
      createTopics: r.bool('HISTORY_SPILL_CREATE_TOPICS', Boolean(emulatorHost)),
      // In the DuckDB file's folder: survives restarts of a local run, and a run pointed at another file
      // (a test's temporary folder) does not spill into ./data.
      filePath: r.str('HISTORY_SPILL_FILE', join(dirname(duckdbPath), 'history-spill.jsonl')),
    },
    // Inside the subscriber's 8 s shutdown grace, leaving time to spill.
    closeTimeoutMs: r.int('HISTORY_CLOSE_TIMEOUT_MS', 5_000, 0, 600_000),
  };
}
