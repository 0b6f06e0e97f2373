import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { settlesBy } from '../../deadline/deadline.js';
import { allRetry, allStored, type InsertOutcome, type RowInserter } from '../inserter.js';
import type { HistoryRow, HistoryTable } from '../rows.js';
import type { Column } from '../schema.js';
import { DUCK_TYPES, DuckDbStore, HISTORY_TABLES } from './duckdb-store.js';

/** Errors that say "this row", not "this moment" (a bad timestamp, bad JSON, a missing required value). */
function rowFault(err: unknown): boolean {
  return /Conversion Error|Invalid Input Error|Constraint Error|Malformed JSON/i.test(firstLine(err));
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0]!;
}

/** How long close() lets a running batch finish before interrupting it (the lane has spilled it by then). */
const CLOSE_GRACE_MS = 2_000;

export class DuckDbClosedError extends Error {
  constructor() {
    super('duckdb: the history store is closing');
    this.name = 'DuckDbClosedError';
  }
}

/** A table's staging twin: every column as text (cast, and checked, on the way into the table), plus the row's place in the batch. */
interface Staging {
  readonly name: string;
  readonly columns: readonly Column[];
  /** Why a staged row cannot go into the table, or NULL when it can. */
  readonly faultSql: string;
  readonly insertSql: string;
}

function staging(table: string, columns: readonly Column[]): Staging {
  const name = `stage_${table}`;
  const faults = columns.flatMap((c) => {
    const checks: string[] = [];
    if (c.mode === 'REQUIRED') checks.push(`WHEN ${c.name} IS NULL THEN '${c.name} is required'`);
    if (c.type === 'JSON') checks.push(`WHEN ${c.name} IS NOT NULL AND NOT json_valid(${c.name}) THEN 'Malformed JSON in ${c.name}'`);
    else if (c.type !== 'STRING') {
      checks.push(
        `WHEN ${c.name} IS NOT NULL AND TRY_CAST(${c.name} AS ${DUCK_TYPES[c.type]}) IS NULL THEN 'Conversion Error: ${c.name} is not a ${c.type.toLowerCase()}: ' || ${c.name}`,
      );
    }
    return checks;
  });
  const cast = (c: Column) => (c.type === 'STRING' ? c.name : `CAST(${c.name} AS ${DUCK_TYPES[c.type]})`);
  const fault = faults.length ? `CASE ${faults.join(' ')} END` : 'NULL';
  const id = columns[0]!.name;
  return {
    name,
    columns,
    faultSql: `SELECT ord, ${fault} AS fault FROM temp.${name} WHERE ${fault} IS NOT NULL`,
    // OR IGNORE: a replayed row (same id) is not duplicated; QUALIFY: nor is one sent twice in the same batch.
    // The rows with a fault are deleted from the staging table first, so the checks are not run a second time here.
    insertSql:
      `INSERT OR IGNORE INTO ${table} (${columns.map((c) => c.name).join(', ')}) ` +
      `SELECT ${columns.map(cast).join(', ')} FROM temp.${name} ` +
      `QUALIFY ROW_NUMBER() OVER (PARTITION BY ${id} ORDER BY ord) = 1`,
  };
}

/**
 * Writes batches into the DuckDB file. A batch goes through DuckDB's
 * appender into a temporary staging table (no statement is prepared or bound
 * per row: that cost ~1 ms a row), then into the table with one
 * INSERT ... SELECT that casts the text, all in one transaction. Rows the
 * table cannot take (a bad timestamp, malformed JSON, a missing required
 * value) are found by one query over the staged batch and come back as
 * invalid with the reason, so one bad row neither fails nor slows its batch.
 * A failure of the file itself (disk full, I/O) retries the batch.
 */
export class DuckDbInserter implements RowInserter {
  readonly name = 'duckdb';
  private store: DuckDbStore | null = null;
  private readonly staged = new Map<string, Staging>();
  /**
   * The lanes share one connection, and a transaction belongs to the
   * connection: one write at a time, or one lane's failed statement aborts
   * another's transaction. Also what close() waits for: closing a
   * connection under a running statement crashes the process.
   */
  private writing: Promise<unknown> = Promise.resolve();
  private running = 0;
  private closing = false;

  constructor(readonly path: string) {}

  async connect(): Promise<void> {
    this.closing = false;
    this.store ??= await DuckDbStore.open(this.path);
  }

  /** The open store (for queries beside the writer in the same process). */
  get db(): DuckDbStore {
    if (!this.store) throw new Error('DuckDB history store is not connected');
    return this.store;
  }

  private async stagingFor(db: DuckDBConnection, table: HistoryTable): Promise<Staging> {
    let s = this.staged.get(table);
    if (s) return s;
    const columns = HISTORY_TABLES.find((t) => t.name === table)!.columns;
    s = staging(table, columns);
    const cols = columns.map((c) => `${c.name} VARCHAR`);
    await db.run(`CREATE OR REPLACE TEMP TABLE ${s.name} (${cols.join(', ')}, ord INTEGER)`);
    this.staged.set(table, s);
    return s;
  }

  private write(table: HistoryTable, rows: readonly HistoryRow[]): Promise<Map<number, string>> {
    const done = this.writing.then(() => this.writeNow(table, rows));
    this.writing = done.catch(() => {});
    return done;
  }

  /** Stores the batch's good rows; returns the faults of the others by their place in the batch. */
  private async writeNow(table: HistoryTable, rows: readonly HistoryRow[]): Promise<Map<number, string>> {
    if (this.closing || !this.store) throw new DuckDbClosedError();
    this.running++;
    const db = this.store.connection;
    try {
      const s = await this.stagingFor(db, table);
      await db.run('BEGIN TRANSACTION');
      try {
        const appender = await db.createAppender(s.name, 'main', 'temp');
        try {
          appendRows(appender, s.columns, rows);
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
        const faults = new Map<number, string>();
        for (const [ord, fault] of (await db.runAndReadAll(s.faultSql)).getRows()) faults.set(Number(ord), String(fault));
        if (faults.size) await db.run(`DELETE FROM temp.${s.name} WHERE ord IN (${[...faults.keys()].join(', ')})`);
        await db.run(s.insertSql);
        await db.run(`DELETE FROM temp.${s.name}`);
        await db.run('COMMIT');
        return faults;
      } catch (err) {
        await db.run('ROLLBACK').catch(() => {});
        // A staged batch left behind would be inserted with the next one.
        await db.run(`DELETE FROM temp.${s.name}`).catch(() => {});
        throw err;
      }
    } finally {
      this.running--;
    }
  }

  async insert(table: HistoryTable, rows: readonly HistoryRow[]): Promise<InsertOutcome> {
    let faults: Map<number, string>;
    try {
      faults = await this.write(table, rows);
    } catch (err) {
      if (!rowFault(err)) return allRetry(rows, `duckdb: ${firstLine(err)}`);
      // Something the staging checks do not know refused the batch: find the row one by one.
      if (rows.length === 1) return { stored: [], invalid: [{ row: rows[0]!, reason: firstLine(err) }], retry: [], error: null };
      const outcomes = [];
      for (const row of rows) outcomes.push(await this.insert(table, [row]));
      return {
        stored: outcomes.flatMap((o) => o.stored),
        invalid: outcomes.flatMap((o) => o.invalid),
        retry: outcomes.flatMap((o) => o.retry),
        error: outcomes.find((o) => o.error)?.error ?? null,
      };
    }
    if (!faults.size) return allStored(rows);
    return {
      stored: rows.filter((_, i) => !faults.has(i)),
      invalid: [...faults].map(([i, reason]) => ({ row: rows[i]!, reason })),
      retry: [],
      error: null,
    };
  }

  /**
   * Lets the batch that is running finish (its lane may be waiting for the
   * answer), interrupts it if it takes longer than CLOSE_GRACE_MS, refuses
   * the batches queued behind it (their lanes spill them), and only then
   * closes the file: a connection closed under a running statement crashes
   * the process or leaves it hanging.
   */
  async close(): Promise<void> {
    if (!this.store) return;
    this.closing = true;
    if (!(await settlesBy(this.writing, Date.now() + CLOSE_GRACE_MS))) {
      if (this.running) this.store.connection.interrupt();
      await this.writing;
    }
    this.store.close();
    this.store = null;
    this.staged.clear();
  }
}

function appendRows(appender: DuckDBAppender, columns: readonly Column[], rows: readonly HistoryRow[]): void {
  for (let i = 0; i < rows.length; i++) {
    const json = rows[i]!.json;
    for (const c of columns) {
      const v = json[c.name];
      if (v === null || v === undefined) appender.appendNull();
      else appender.appendVarchar(String(v));
    }
    appender.appendInteger(i);
    appender.endRow();
  }
}
