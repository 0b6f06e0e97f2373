import { isHistoryTable, restoreRow, type HistoryRow } from '../rows.js';

/**
 * A durable place for rows the store could not take in time: the Pub/Sub
 * spill topic in the cloud (it outlives the instance), a JSONL file locally.
 * `spill` resolves only once the rows are durable there; it throws when they
 * are not, and the caller keeps them and tries again.
 */
export interface HistorySpill {
  readonly name: string;
  connect(): Promise<void>;
  spill(rows: readonly HistoryRow[], reason: string): Promise<void>;
  close(): Promise<void>;
}

/** The spilled form of a row: everything needed to insert it again with its original insertId. */
export interface SpillRecord {
  readonly table: string;
  readonly insertId: string;
  readonly json: Record<string, string | boolean | null>;
  readonly reason: string;
  readonly spilledAt: string;
}

export function toSpillRecord(row: HistoryRow, reason: string, at = new Date()): SpillRecord {
  return { table: row.table, insertId: row.insertId, json: { ...row.json }, reason, spilledAt: at.toISOString() };
}

/** Parses a spilled record; throws with the reason when it is not one. */
export function fromSpillRecord(text: string): HistoryRow {
  const v = JSON.parse(text) as Partial<SpillRecord>;
  if (!isHistoryTable(v.table)) throw new Error(`unknown table ${String(v.table)}`);
  if (typeof v.insertId !== 'string' || !v.insertId) throw new Error('missing insertId');
  if (!v.json || typeof v.json !== 'object') throw new Error('missing row');
  return restoreRow(v.table, v.insertId, v.json);
}
