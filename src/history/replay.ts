import { backoffDelay } from '../retry/backoff.js';
import type { RowInserter } from './inserter.js';
import { HISTORY_TABLE_NAMES, rejectedRowDeadLetter, type HistoryRow, type HistoryTable } from './rows.js';
import { DEAD_LETTERS_TABLE, MESSAGES_TABLE } from './schema.js';

/**
 * A batch handed out by a replay source. `ack` once its rows are stored (or
 * dead-lettered); `release` gives them back for a later run.
 */
export interface ReplayBatch {
  readonly rows: readonly HistoryRow[];
  /** Records the source could not read as rows; never acked, reported. */
  readonly unreadable: number;
  ack(rows: readonly HistoryRow[]): Promise<void>;
  release(rows: readonly HistoryRow[]): Promise<void>;
}

export interface ReplaySource {
  readonly name: string;
  /**
   * The rows come from the dead-letter table: a row refused again is already
   * recorded there, so it is counted (refusedAgain) and nothing new is
   * written; a new dead letter per run would multiply them.
   */
  readonly fromDeadLetters?: boolean;
  /** Up to `max` rows; null when the source is drained. */
  next(max: number): Promise<ReplayBatch | null>;
  close(): Promise<void>;
}

export interface ReplayOptions {
  batchRows: number;
  /** Attempts per batch before the replay stops (the store is still failing). */
  maxAttempts: number;
  retry: { initialMs: number; maxMs: number };
  /** Count what would be replayed; insert and ack nothing. */
  dryRun?: boolean;
  onProgress?: (report: ReplayReport) => void;
}

export interface ReplayReport {
  source: string;
  read: number;
  stored: number;
  /** Message rows the store refused again: now in the dead-letter table with the reason. */
  deadLettered: number;
  /** Dead-lettered rows the store refused once more: still in the dead-letter table, not stored. */
  refusedAgain: number;
  /** Rows left in the source (refused dead letters, or the store failing): replay again later. */
  leftInSource: number;
  unreadable: number;
  /** Set when the replay stopped early because the store kept failing. */
  stoppedBecause: string | null;
}

/**
 * Re-inserts rows with their original insertIds and acknowledges each only
 * after the store has it, so a replay cut short loses nothing. A replay run
 * twice stores nothing twice locally (DuckDB's primary key); in BigQuery the
 * insertId drops a repeat only within about a minute, so a later repeat can
 * reach the raw table and the views (v_messages and those over it) drop it
 * by envelope_id.
 */
export async function replayHistory(source: ReplaySource, target: RowInserter, opts: ReplayOptions): Promise<ReplayReport> {
  const report: ReplayReport = {
    source: source.name,
    read: 0,
    stored: 0,
    deadLettered: 0,
    refusedAgain: 0,
    leftInSource: 0,
    unreadable: 0,
    stoppedBecause: null,
  };
  try {
    await replayBatches(source, target, opts, report);
  } finally {
    // Also when a read fails: the source hands back what it holds (leases, lines) for the next run.
    await source.close();
  }
  return report;
}

async function replayBatches(source: ReplaySource, target: RowInserter, opts: ReplayOptions, report: ReplayReport): Promise<void> {
  for (;;) {
    const batch = await source.next(opts.batchRows);
    if (!batch) break;
    report.read += batch.rows.length;
    report.unreadable += batch.unreadable;
    if (opts.dryRun) {
      report.leftInSource += batch.rows.length;
      await batch.release(batch.rows);
      opts.onProgress?.(report);
      continue;
    }
    const done: HistoryRow[] = [];
    const left: HistoryRow[] = [];
    for (const table of HISTORY_TABLE_NAMES) {
      const rows = batch.rows.filter((r) => r.table === table);
      if (!rows.length) continue;
      const out = await insertWithRetry(target, table, rows, opts);
      done.push(...out.stored);
      report.stored += out.stored.length;
      if (out.failed.length) {
        left.push(...out.failed);
        report.stoppedBecause = out.error;
      }
      if (!out.invalid.length) continue;
      if (source.fromDeadLetters) {
        report.refusedAgain += out.invalid.length;
        continue;
      }
      if (table !== MESSAGES_TABLE) {
        // A dead letter (or a name) the table refuses has nowhere else to go: keep it in the source.
        left.push(...out.invalid.map((i) => i.row));
        continue;
      }
      const dls = out.invalid.map((i) => rejectedRowDeadLetter(i.row, i.reason));
      const dl = await insertWithRetry(target, DEAD_LETTERS_TABLE, dls, opts);
      if (dl.stored.length === dls.length) {
        done.push(...out.invalid.map((i) => i.row));
        report.deadLettered += dls.length;
      } else {
        left.push(...out.invalid.map((i) => i.row));
        report.stoppedBecause ??= dl.error ?? 'dead-letter table refused rows';
      }
    }
    if (done.length) await batch.ack(done);
    if (left.length) await batch.release(left);
    report.leftInSource += left.length;
    opts.onProgress?.(report);
    if (report.stoppedBecause) break;
  }
}

async function insertWithRetry(
  target: RowInserter,
  table: HistoryTable,
  rows: readonly HistoryRow[],
  opts: ReplayOptions,
): Promise<{ stored: HistoryRow[]; invalid: { row: HistoryRow; reason: string }[]; failed: readonly HistoryRow[]; error: string | null }> {
  const stored: HistoryRow[] = [];
  const invalid: { row: HistoryRow; reason: string }[] = [];
  let pending = rows;
  let error: string | null = null;
  for (let attempt = 0; attempt < opts.maxAttempts && pending.length; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, backoffDelay(attempt - 1, opts.retry.initialMs, opts.retry.maxMs)));
    const out = await target.insert(table, pending);
    stored.push(...out.stored);
    invalid.push(...out.invalid);
    pending = out.retry;
    error = out.error;
  }
  return { stored, invalid, failed: pending, error: pending.length ? `${target.name} still failing: ${error}` : null };
}
