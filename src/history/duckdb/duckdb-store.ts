import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { HISTORY_TABLE_DEFS, type Column, type ColumnType } from '../schema.js';
import { duckdbCompatSql, historyViews } from '../sql-files.js';

export const DUCK_TYPES: Record<ColumnType, string> = {
  STRING: 'VARCHAR',
  // BigQuery's TIMESTAMP is an instant; TIMESTAMPTZ is DuckDB's, and lets AT TIME ZONE give local time.
  TIMESTAMP: 'TIMESTAMPTZ',
  JSON: 'JSON',
  BOOLEAN: 'BOOLEAN',
  INTEGER: 'BIGINT',
};

export const HISTORY_TABLES: readonly { name: string; columns: readonly Column[] }[] = HISTORY_TABLE_DEFS;

export class DuckDbOpenError extends Error {
  constructor(
    readonly path: string,
    readonly locked: boolean,
    options: { cause: unknown },
  ) {
    super(
      locked
        ? `${path} is held by another process (DuckDB allows one writer): ${firstLine(options.cause)}`
        : `cannot open ${path}: ${firstLine(options.cause)}`,
      options,
    );
    this.name = 'DuckDbOpenError';
  }
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0]!;
}

export function isLockError(err: unknown): boolean {
  return /lock/i.test(String(err instanceof Error ? err.message : err));
}

export type Row = Record<string, unknown>;

/** Read back as text by the JSON reader (they may exceed 2^53); shown as numbers when they fit. */
const INTEGER_TYPES = /^(BIGINT|HUGEINT|UBIGINT|UHUGEINT)$/;

/**
 * The local history store: one DuckDB file, one connection. Opened
 * read-write it creates the tables (primary key on the id, so a replayed row
 * is ignored, not duplicated), adds columns a newer catalog brought, and
 * (re)creates the BigQuery-compatible macros and the views. Opened read-only
 * it only adds the macros for this session.
 */
export class DuckDbStore {
  private constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
  ) {}

  static async open(path: string, opts: { readOnly?: boolean } = {}): Promise<DuckDbStore> {
    if (!opts.readOnly && path !== ':memory:') await mkdir(dirname(path), { recursive: true });
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path, opts.readOnly ? { access_mode: 'READ_ONLY' } : {});
    } catch (err) {
      throw new DuckDbOpenError(path, isLockError(err), { cause: err });
    }
    const connection = await instance.connect();
    const store = new DuckDbStore(path, instance, connection);
    try {
      // BigQuery computes in UTC; so must EXTRACT and date parts here.
      await connection.run(`SET TimeZone = 'UTC'`);
      if (opts.readOnly) {
        await connection.run(duckdbCompatSql().replace(/CREATE OR REPLACE MACRO/g, 'CREATE OR REPLACE TEMP MACRO'));
      } else {
        await store.migrate();
      }
    } catch (err) {
      store.close();
      throw err;
    }
    return store;
  }

  private async migrate(): Promise<void> {
    await this.connection.run(duckdbCompatSql());
    for (const t of HISTORY_TABLES) {
      const cols = t.columns.map(
        (c, i) => `${c.name} ${DUCK_TYPES[c.type]}${i === 0 ? ' PRIMARY KEY' : c.mode === 'REQUIRED' ? ' NOT NULL' : ''}`,
      );
      await this.connection.run(`CREATE TABLE IF NOT EXISTS ${t.name} (${cols.join(', ')})`);
      // A sixteenth subscription may bring a new entity key: add its column, keep the rows.
      const have = new Set(
        (await this.query(`SELECT column_name FROM duckdb_columns() WHERE table_name = '${t.name}'`)).map((r) => r.column_name),
      );
      for (const c of t.columns) {
        if (!have.has(c.name)) await this.connection.run(`ALTER TABLE ${t.name} ADD COLUMN ${c.name} ${DUCK_TYPES[c.type]}`);
      }
    }
    for (const v of historyViews()) await this.connection.run(`CREATE OR REPLACE VIEW ${v.name} AS\n${v.duckdb}`);
  }

  /** Runs SQL and returns rows with JSON-friendly values (integers as numbers when exact, timestamps as text). */
  async query(sql: string, params?: unknown[]): Promise<Row[]> {
    const { columns, rows } = await this.table(sql, params);
    return rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])));
  }

  /** Column names and rows, in order, for printing. */
  async table(sql: string, params?: unknown[]): Promise<{ columns: string[]; rows: unknown[][] }> {
    const reader = await this.connection.runAndReadAll(sql, params as never);
    const integer = reader.columnTypes().map((t) => INTEGER_TYPES.test(t.toString()));
    const rows = (reader.getRowsJson() as unknown[][]).map((r) =>
      r.map((v, i) => (integer[i] && typeof v === 'string' && Number.isSafeInteger(Number(v)) ? Number(v) : v)),
    );
    return { columns: reader.columnNames(), rows };
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
