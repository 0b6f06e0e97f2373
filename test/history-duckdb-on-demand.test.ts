import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The cloud services never load DuckDB's native module (about 35 MB and half
 * a second), and their image does not carry it: only a HISTORY=duckdb sink
 * loads it, when it connects. Seen from a fresh Node process through the
 * shared objects it has mapped.
 */
const dir = mkdtempSync(join(tmpdir(), 'duckdb-on-demand-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CHILD = `
import { loadConfig } from './src/config/index.ts';
import { createHistorySink } from './src/history/index.ts';
import './src/subscriber/service.ts';
import './src/sse/index.ts';
const duckdbMapped = () => process.report.getReport().sharedObjects.some((p) => /duckdb/i.test(p));
const seen = { afterImports: duckdbMapped() };
const bigquery = createHistorySink(loadConfig({ HISTORY: 'bigquery', BQ_PROJECT: 'p', BQ_DATASET: 'd' }).history);
seen.afterBigQuerySink = duckdbMapped();
const duck = createHistorySink(loadConfig({ HISTORY: 'duckdb', DUCKDB_PATH: process.argv[1] }).history);
seen.afterDuckDbSinkCreated = duckdbMapped();
await duck.connect();
seen.afterDuckDbConnect = duckdbMapped();
await duck.close();
void bigquery;
console.log(JSON.stringify(seen));
`;

describe('history: DuckDB on demand', () => {
  it('loads DuckDB only when a HISTORY=duckdb sink connects, never for the cloud services', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, join(dir, 'h.duckdb')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', METADATA_SERVER_DETECTION: 'none' },
    });
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(seen).toEqual({ afterImports: false, afterBigQuerySink: false, afterDuckDbSinkCreated: false, afterDuckDbConnect: true });
  });
});
