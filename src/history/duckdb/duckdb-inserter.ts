import { BOOLEAN, VARCHAR, type DuckDBType } from '@duckdb/node-api';
import { allRetry, allStored, type InsertOutcome, type RowInserter } from '../inserter.js';
import type { HistoryRow, HistoryTable } from '../rows.js';
import { DuckDbStore, HISTORY_TABLES } from './duckdb-store.js';

/** Rows per INSERT statement: a few thousand bound parameters, well inside DuckDB's comfort. */
const ROWS_PER_STATEMENT = 200;

/** Errors that say "this row", not "this moment" (a bad timestamp, bad JSON, a missing required value). */
function rowFault(err: unknown): boolean {
  return /Conversion Error|Invalid Input Error|Constraint Error|Malformed JSON/i.test(String(err instanceof Error ? err.message : err));
}

/**
 * Writes batches into the DuckDB file: one transaction per batch, multi-row
 * INSERT with bound parameters, INSERT OR IGNORE so a replayed row (same id)
 * is not duplicated. When a batch fails because of a row, the rows are
 * retried one by one to find it; a failure of the file itself (disk full,
 * I/O) retries the batch.
 */
export class DuckDbInserter implements RowInserter {
  readonly name = 'duckdb';
  private store: DuckDbStore | null = null;
  private readonly statements = new Map<string, { sql: string; types: DuckDBType[] }>();
  /**
   * The two lanes (messages, dead letters) share one connection, and a
   * transaction belongs to the connection: one write at a time, or one lane's
   * failed statement aborts the other's transaction.
   */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {}

  async connect(): Promise<void> {
    this.store ??= await DuckDbStore.open(this.path);
  }

  /** The open store (for queries beside the writer in the same process). */
  get db(): DuckDbStore {
    if (!this.store) throw new Error('DuckDB history store is not connected');
    return this.store;
  }

  private statement(table: HistoryTable, rows: number): { sql: string; types: DuckDBType[] } {
    const key = `${table}:${rows}`;
    let s = this.statements.get(key);
    if (s) return s;
    const columns = HISTORY_TABLES.find((t) => t.name === table)!.columns;
    const one = `(${columns.map((c) => (c.type === 'TIMESTAMP' ? '?::TIMESTAMPTZ' : c.type === 'JSON' ? '?::JSON' : '?')).join(', ')})`;
    s = {
      sql: `INSERT OR IGNORE INTO ${table} (${columns.map((c) => c.name).join(', ')}) VALUES ${Array(rows).fill(one).join(', ')}`,
      types: Array.from({ length: rows }, () => columns.map((c) => (c.type === 'BOOLEAN' ? BOOLEAN : VARCHAR))).flat(),
    };
    // Only two sizes recur (full chunks and the remainder); the map stays small.
    if (this.statements.size > 64) this.statements.clear();
    this.statements.set(key, s);
    return s;
  }

  private write(table: HistoryTable, rows: readonly HistoryRow[]): Promise<void> {
    const done = this.writing.then(() => this.writeNow(table, rows));
    this.writing = done.catch(() => {});
    return done;
  }

  private async writeNow(table: HistoryTable, rows: readonly HistoryRow[]): Promise<void> {
    const db = this.db.connection;
    const columns = HISTORY_TABLES.find((t) => t.name === table)!.columns;
    await db.run('BEGIN TRANSACTION');
    try {
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
        const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
        const { sql, types } = this.statement(table, chunk.length);
        const values = chunk.flatMap((r) => columns.map((c) => r.json[c.name] ?? null));
        await db.run(sql, values, types);
      }
      await db.run('COMMIT');
    } catch (err) {
      await db.run('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  async insert(table: HistoryTable, rows: readonly HistoryRow[]): Promise<InsertOutcome> {
    try {
      await this.write(table, rows);
      return allStored(rows);
    } catch (err) {
      if (!rowFault(err)) return allRetry(rows, `duckdb: ${String(err instanceof Error ? err.message : err).split('\n')[0]}`);
      if (rows.length === 1) return { stored: [], invalid: [{ row: rows[0]!, reason: String(err instanceof Error ? err.message : err).split('\n')[0]! }], retry: [], error: null };
    }
    const outcomes = [];
    for (const row of rows) outcomes.push(await this.insert(table, [row]));
    return {
      stored: outcomes.flatMap((o) => o.stored),
      invalid: outcomes.flatMap((o) => o.invalid),
      retry: outcomes.flatMap((o) => o.retry),
      error: outcomes.find((o) => o.error)?.error ?? null,
    };
  }

  async close(): Promise<void> {
    this.store?.close();
    this.store = null;
  }
}
