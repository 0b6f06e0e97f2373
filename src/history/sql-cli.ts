import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { StatementType } from '@duckdb/node-api';
import { DuckDbOpenError, DuckDbStore } from './duckdb/duckdb-store.js';
import { historyQueries, historyViews, loadQuery } from './sql-files.js';
import { textTable } from './text-table.js';

export interface SqlCliIo {
  out(text: string): void;
  err(text: string): void;
}

const USAGE = `usage: npm run sql -- "<select ...>"        run SQL on the local history
       npm run sql -- <query-name>           run sql/queries/<query-name>.sql
       npm run sql -- --file <path.sql>      run a SQL file
       npm run sql -- --list                 list the queries and views
options: --db <path> (default DUCKDB_PATH or ./data/tote.duckdb), --max-rows <n> (default 200)`;

interface Args {
  sql?: string;
  name?: string;
  file?: string;
  list: boolean;
  db?: string;
  maxRows: number;
}

function parse(argv: readonly string[]): Args | string {
  const a: Args = { list: false, maxRows: 200 };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]!;
    if (v === '--list') a.list = true;
    else if (v === '--file') a.file = argv[++i];
    else if (v === '--query') a.name = argv[++i];
    else if (v === '--db') a.db = argv[++i];
    else if (v === '--max-rows') a.maxRows = Number(argv[++i]);
    else if (v === '--help' || v === '-h') return USAGE;
    else if (v.startsWith('--')) return `unknown option ${v}\n${USAGE}`;
    else rest.push(v);
  }
  if (!Number.isInteger(a.maxRows) || a.maxRows < 1) return `--max-rows must be a whole number of at least 1\n${USAGE}`;
  if (rest.length) {
    const text = rest.join(' ');
    // A bare word is a query name; anything else is SQL.
    if (/^[a-z0-9_]+$/i.test(text)) a.name = text;
    else a.sql = text;
  }
  if (!a.list && !a.sql && !a.name && !a.file) return USAGE;
  return a;
}

/**
 * Opens the history file for reading. DuckDB lets one process hold a file
 * for writing and no one else in at the same time, so while `npm start`
 * runs, a read-only open fails on the lock: then the file (and its WAL) is
 * copied to a temporary folder and the copy is queried, with a note saying
 * so. The copy is as of that moment; rows still in the writer's buffer (at
 * most a second's worth) are not in it.
 */
async function openForReading(path: string, io: SqlCliIo): Promise<{ store: DuckDbStore; copy: boolean; cleanup(): Promise<void> }> {
  try {
    await stat(path);
  } catch {
    throw new Error(`no history at ${path} yet: run \`npm start\` first (or point --db / DUCKDB_PATH at the file)`);
  }
  try {
    return { store: await DuckDbStore.open(path, { readOnly: true }), copy: false, cleanup: async () => {} };
  } catch (err) {
    if (!(err instanceof DuckDbOpenError) || !err.locked) throw err;
  }
  const dir = await mkdtemp(join(tmpdir(), 'tote-sql-'));
  const copy = join(dir, basename(path));
  await copyFile(path, copy);
  await copyFile(`${path}.wal`, `${copy}.wal`).catch(() => {});
  io.err(
    `note: ${path} is held by a running pipeline (DuckDB allows one process at a time); ` +
      `querying a copy taken at ${new Date().toISOString()}.`,
  );
  try {
    return { store: await DuckDbStore.open(copy), copy: true, cleanup: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${path} is in use and a copy of it could not be read (${String(err)}); stop \`npm start\` and try again`);
  }
}

/** Statements that only read (or set this session's options). */
const READS = new Set<StatementType>([
  StatementType.SELECT,
  StatementType.EXPLAIN,
  StatementType.PRAGMA,
  StatementType.CALL,
  StatementType.SET,
  StatementType.VARIABLE_SET,
  StatementType.RELATION,
]);

/**
 * The first statement that would change the file, by DuckDB's own parse.
 * While the pipeline runs the query goes to a copy, where a write would
 * "succeed" and vanish with the copy; otherwise the file is open read-only.
 * Either way the answer is the same plain refusal.
 */
async function firstWrite(store: DuckDbStore, sql: string): Promise<string | null> {
  const statements = await store.connection.extractStatements(sql);
  for (let i = 0; i < statements.count; i++) {
    const type = (await statements.prepare(i)).statementType;
    if (!READS.has(type)) return StatementType[type] ?? String(type);
  }
  return null;
}

/** `npm run sql`: returns the exit code. */
export async function runSqlCli(argv: readonly string[], defaultDb: string, io: SqlCliIo): Promise<number> {
  const a = parse(argv);
  if (typeof a === 'string') {
    io.err(a);
    return a === USAGE && argv.some((x) => x === '--help' || x === '-h') ? 0 : 2;
  }
  if (a.list) {
    const rows = [
      ...historyQueries().map((q) => ['query', q.name, q.description]),
      ...historyViews().map((v) => ['view', v.name, v.description]),
    ];
    io.out(rows.map(([kind, name, d]) => `${kind!.padEnd(5)} ${name!.padEnd(34)} ${d}`).join('\n'));
    return 0;
  }
  let sql: string;
  if (a.name) {
    const q = loadQuery(a.name);
    if (!q) {
      io.err(`no query named ${a.name}; \`npm run sql -- --list\` shows them`);
      return 2;
    }
    sql = q.duckdb;
  } else if (a.file) {
    try {
      sql = await readFile(a.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      io.err(
        `cannot read ${a.file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : String((err as Error).message)}`,
      );
      return 2;
    }
  } else sql = a.sql!;
  let opened: Awaited<ReturnType<typeof openForReading>>;
  try {
    opened = await openForReading(a.db ?? defaultDb, io);
  } catch (err) {
    io.err(String(err instanceof Error ? err.message : err));
    return 1;
  }
  try {
    const write = await firstWrite(opened.store, sql);
    if (write) {
      io.err(
        `refused: ${write} changes data, and \`npm run sql\` only reads history` +
          (opened.copy ? ' (the pipeline holds the file, so it would only have changed a temporary copy)' : '') +
          '; nothing was changed',
      );
      return 2;
    }
    const { columns, rows } = await opened.store.table(sql);
    io.out(textTable(columns, rows.slice(0, a.maxRows)));
    io.out(
      rows.length > a.maxRows
        ? `(${rows.length} rows, first ${a.maxRows} shown; --max-rows to see more)`
        : `(${rows.length} row${rows.length === 1 ? '' : 's'})`,
    );
    return 0;
  } catch (err) {
    io.err(String(err instanceof Error ? err.message : err));
    return 1;
  } finally {
    opened.store.close();
    await opened.cleanup();
  }
}
