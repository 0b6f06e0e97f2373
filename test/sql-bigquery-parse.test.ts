import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import nodeSqlParser from 'node-sql-parser';

/**
 * The views and queries are BigQuery Standard SQL. DuckDB runs them in the
 * other tests; this one parses every BigQuery text with a BigQuery-dialect
 * parser, including the two views whose DuckDB twin differs (UNNEST alias),
 * so the BigQuery side is checked too. There is no BigQuery here to run them.
 */
const { Parser } = nodeSqlParser;
const parser = new Parser();
const parsesAsBigQuery = (sql: string) => {
  try {
    parser.astify(sql, { database: 'bigquery' });
    return true;
  } catch {
    return false;
  }
};

const files = ['views', 'queries'].flatMap((dir) => readdirSync(`sql/${dir}`).map((f) => `sql/${dir}/${f}`));

describe('BigQuery SQL texts', () => {
  it.each(files.filter((f) => !f.endsWith('.duckdb.sql')))('%s parses as BigQuery Standard SQL', (file) => {
    expect(parsesAsBigQuery(readFileSync(file, 'utf8'))).toBe(true);
  });

  it('tells the dialects apart: the DuckDB twins are not valid BigQuery', () => {
    const twins = files.filter((f) => f.endsWith('.duckdb.sql'));
    expect(twins.length).toBeGreaterThan(0);
    for (const f of twins) expect(parsesAsBigQuery(readFileSync(f, 'utf8'))).toBe(false);
  });
});
