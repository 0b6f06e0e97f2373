import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HISTORY_TABLE_DEFS } from './schema.js';

/**
 * The analysis SQL lives in the top-level sql/ folder, as plain files an
 * analyst can open and run:
 *
 * - sql/views/<name>.sql: typed views over the raw table, BigQuery Standard
 *   SQL that also runs on DuckDB (through sql/duckdb/bigquery-compat.sql).
 *   Where the dialects cannot share a text (UNNEST aliases), the DuckDB
 *   version sits beside it as <name>.duckdb.sql.
 * - sql/queries/<name>.sql: the analyst's questions, same rule.
 *
 * Table and view names are written unqualified. DuckDB reads them as they
 * are; for BigQuery, views are created with every name qualified
 * (`project.dataset.name`, a view cannot use a default dataset) and queries
 * are run with the dataset as the job's default dataset.
 */
export const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));

export type Dialect = 'bigquery' | 'duckdb';

export interface SqlFile {
  readonly name: string;
  /** The leading comment: what the view holds or the query answers. */
  readonly description: string;
  readonly bigquery: string;
  readonly duckdb: string;
  /** True when DuckDB has its own text (<name>.duckdb.sql). */
  readonly split: boolean;
}

/**
 * Views in dependency order: the names first (the others join them), then
 * v_messages (every other view reads it), v_bet_events before v_bet_lifecycle.
 */
export const VIEW_NAMES = [
  'v_event_names',
  'v_runner_names',
  'v_product_names',
  'v_selection_names',
  'v_messages',
  'v_pool_totals',
  'v_product_status',
  'v_selection_status',
  'v_dividends',
  'v_event_status',
  'v_event_results',
  'v_competitor_status',
  'v_lines',
  'v_bet_events',
  'v_bet_lifecycle',
] as const;

function read(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

/** The comment block at the top of a SQL file, as one paragraph. */
export function leadingComment(sql: string): string {
  const lines: string[] = [];
  for (const line of sql.split('\n')) {
    const m = line.match(/^\s*--\s?(.*)$/);
    if (!m) break;
    lines.push(m[1]!);
  }
  return lines.join(' ').replace(/\s+/g, ' ').trim();
}

function load(folder: 'views' | 'queries', name: string): SqlFile {
  const bigquery = read(`${SQL_DIR}${folder}/${name}.sql`);
  let duckdb = bigquery;
  let split = false;
  try {
    duckdb = read(`${SQL_DIR}${folder}/${name}.duckdb.sql`);
    split = true;
  } catch {
    // Same text for both dialects.
  }
  return { name, description: leadingComment(bigquery), bigquery, duckdb, split };
}

export function historyViews(): SqlFile[] {
  return VIEW_NAMES.map((n) => load('views', n));
}

export function queryNames(): string[] {
  return readdirSync(`${SQL_DIR}queries`)
    .filter((f) => f.endsWith('.sql') && !f.endsWith('.duckdb.sql'))
    .map((f) => f.slice(0, -'.sql'.length))
    .sort();
}

export function historyQueries(): SqlFile[] {
  return queryNames().map((n) => load('queries', n));
}

export function loadQuery(name: string): SqlFile | undefined {
  return queryNames().includes(name) ? load('queries', name) : undefined;
}

/** The BigQuery functions as DuckDB macros; run at every DuckDB connect. */
export function duckdbCompatSql(): string {
  return read(`${SQL_DIR}duckdb/bigquery-compat.sql`);
}

/**
 * A view's BigQuery text with every table and view name qualified, outside
 * comments. This is what the CDKTF stack puts in each BigqueryTable view.
 */
export function qualifyForBigQuery(sql: string, project: string, dataset: string): string {
  const names = new Set<string>([...HISTORY_TABLE_DEFS.map((t) => t.name), ...VIEW_NAMES]);
  const pattern = /(?<![.`\w])([a-z_][a-z0-9_]*)(?![\w`.(])/g;
  return sql
    .split('\n')
    .map((line) => {
      const cut = line.indexOf('--');
      const code = cut === -1 ? line : line.slice(0, cut);
      const comment = cut === -1 ? '' : line.slice(cut);
      return code.replace(pattern, (w) => (names.has(w) ? `\`${project}.${dataset}.${w}\`` : w)) + comment;
    })
    .join('\n');
}

/** Views as the CDKTF stack needs them: name, description and qualified BigQuery SQL. */
export function bigqueryViews(project: string, dataset: string): { name: string; description: string; sql: string }[] {
  return historyViews().map((v) => ({ name: v.name, description: v.description, sql: qualifyForBigQuery(v.bigquery, project, dataset) }));
}
