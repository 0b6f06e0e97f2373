import type { HistoryRow, HistoryTable } from './rows.js';

/**
 * What a store says about one batch: every row it was given ends in exactly
 * one of the three lists. `retry` rows failed for a reason that may pass
 * (5xx, timeout, quota, a missing table the stack will create); `invalid`
 * rows will never be accepted as they are and go to the dead-letter table.
 */
export interface InsertOutcome {
  readonly stored: readonly HistoryRow[];
  readonly invalid: readonly { readonly row: HistoryRow; readonly reason: string }[];
  readonly retry: readonly HistoryRow[];
  /** Why the retry rows failed (for /status and the log). */
  readonly error: string | null;
}

/** A history store seen as "write a batch, get per-row results" (BigQuery insertAll, DuckDB). */
export interface RowInserter {
  readonly name: string;
  connect(): Promise<void>;
  /** Never throws: a failure is an outcome. */
  insert(table: HistoryTable, rows: readonly HistoryRow[]): Promise<InsertOutcome>;
  close(): Promise<void>;
}

export function allRetry(rows: readonly HistoryRow[], error: string): InsertOutcome {
  return { stored: [], invalid: [], retry: rows, error };
}

export function allStored(rows: readonly HistoryRow[]): InsertOutcome {
  return { stored: rows, invalid: [], retry: [], error: null };
}
