import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvReader } from '../src/config/env.js';
import { readHistoryConfig } from '../src/config/history.js';
import { createHistorySink, type HistorySink } from '../src/history/index.js';
import { runSqlCli } from '../src/history/sql-cli.js';
import { queryNames } from '../src/history/sql-files.js';
import { raceDay } from './history-races.js';

/** `npm run sql`: what an analyst types and what they see, on a real DuckDB file. */
const dir = mkdtempSync(join(tmpdir(), 'tote-sqlcli-'));
const db = join(dir, 'data', 'tote.duckdb');
const day = raceDay(new Date('2026-07-01T12:00:00.000Z'), 2, 30);

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runSqlCli(argv, db, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') });
  return { code, out, err };
}

function writerSink(): HistorySink {
  return createHistorySink(
    readHistoryConfig(new EnvReader({ HISTORY: 'duckdb', DUCKDB_PATH: db, HISTORY_SPILL: 'none', HISTORY_BATCH_MAX_DELAY_MS: '0' })),
  );
}

beforeAll(async () => {
  const sink = writerSink();
  await sink.connect();
  for (const e of day.envelopes) await sink.write(e);
  await sink.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `npm run sql` as its own process (the pipeline holding the file is this one). */
async function sqlProcess(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/sql.ts', '--db', db, ...args], {
    cwd: join(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (err += b));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, out, err };
}

describe('npm run sql', () => {
  it('prints a readable table for ad-hoc SQL', async () => {
    const r = await cli('select message_type, count(*) as n from tote_messages group by 1 order by 1');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^message_type\s+\|\s+n$/);
    expect(lines[1]).toMatch(/^-+-\+-+$/);
    expect(lines).toContainEqual(expect.stringMatching(/^PoolTotalChanged\s+\|\s+\d+$/));
    expect(lines.at(-1)).toBe('(15 rows)'.replace('15', String(new Set(day.envelopes.map((e) => e.type)).size)));
  });

  it('runs every documented query by name, and a SQL file', async () => {
    for (const name of queryNames()) {
      const r = await cli(name);
      expect(r.code, `${name}: ${r.err}`).toBe(0);
      expect(r.out).toMatch(/\(\d+ rows?\)/);
    }
    const final = await cli('final_pool_totals');
    expect(final.out).toContain(day.races[0]!.productId);
    expect(final.out).toContain(String(day.races[0]!.finalGross));
    const file = join(dir, 'q.sql');
    writeFileSync(file, '-- bets per state\nSELECT state, COUNT(*) AS bets FROM v_bet_lifecycle GROUP BY state ORDER BY state');
    const f = await cli('--file', file);
    expect(f.out).toMatch(/settled\s+\|\s+4/);
  });

  it('lists the queries and views with what each answers', async () => {
    const r = await cli('--list');
    expect(r.code).toBe(0);
    for (const name of queryNames()) expect(r.out).toMatch(new RegExp(`^query\\s+${name}\\s+\\S`, 'm'));
    expect(r.out).toMatch(/^view\s+v_bet_lifecycle\s+Bet lifecycle/m);
  });

  it('says clearly what is wrong: bad SQL, unknown query, no history file yet', async () => {
    const bad = await cli('select nope from tote_messages');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/nope/);
    const unknown = await cli('no_such_query');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no query named no_such_query/);
    const missing = await cli('--db', join(dir, 'absent.duckdb'), 'select 1');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no history at .*absent\.duckdb yet: run `npm start` first/);
  });

  it('says in one line that a --file does not exist, with no stack trace', async () => {
    const r = await cli('--file', join(dir, 'missing.sql'));
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toEqual([`cannot read ${join(dir, 'missing.sql')}: no such file`]);
  });

  it('refuses a write plainly and changes nothing', async () => {
    const r = await cli('delete from tote_messages');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^refused: DELETE changes data, and `npm run sql` only reads history; nothing was changed/);
    const n = await cli('select count(*) as n from tote_messages');
    expect(n.out).toMatch(new RegExp(`\\b${day.envelopes.length}\\b`));
  });

  it('refuses a write while the pipeline holds the file, instead of "succeeding" on the temporary copy', async () => {
    const sink = writerSink();
    await sink.connect();
    try {
      const { code, out, err } = await sqlProcess('select 1; delete from tote_messages');
      expect(code).toBe(2);
      expect(err).toMatch(
        /refused: DELETE changes data, .* \(the pipeline holds the file, so it would only have changed a temporary copy\); nothing was changed/,
      );
      expect(out).toBe('');
    } finally {
      await sink.close();
    }
  });

  it('answers from a copy, with a note, while the pipeline holds the file', async () => {
    const sink = writerSink();
    await sink.connect(); // this process now holds the file for writing, as `npm start` does
    try {
      const { code, out, err } = await sqlProcess('final_pool_totals');
      expect(err).toMatch(/is held by a running pipeline .* querying a copy taken at/);
      expect(code).toBe(0);
      expect(out).toContain(day.races[1]!.productId);
      expect(out).toContain('(2 rows)');
    } finally {
      await sink.close();
    }
  });
});
