import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EnvReader } from '../src/config/env.js';
import { readHistoryConfig, type HistoryConfig } from '../src/config/history.js';
import { makeDeadLetter, type Envelope } from '../src/envelope/envelope.js';
import { DuckDbOpenError, DuckDbStore } from '../src/history/duckdb/duckdb-store.js';
import { createHistorySink, type BatchingHistoryStatus } from '../src/history/index.js';
import { runReplayCli } from '../src/history/replay-cli.js';
import { messageRow } from '../src/history/rows.js';
import { FileSpill } from '../src/history/spill/file-spill.js';
import { FileSpillSource } from '../src/history/spill/file-spill-source.js';
import { setLogLevel } from '../src/log/logger.js';
import { raceDay } from './history-races.js';

/** The local history store: a DuckDB file written in batches by the same sink the cloud uses. */
const dir = mkdtempSync(join(tmpdir(), 'tote-duck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
setLogLevel('ERROR');

function config(name: string, extra: Record<string, string> = {}): HistoryConfig {
  return readHistoryConfig(
    new EnvReader({ DUCKDB_PATH: join(dir, name, 'nested', 'tote.duckdb'), HISTORY_SPILL_FILE: join(dir, name, 'spill.jsonl'), ...extra }),
  );
}

const origin = { source: 'test', protocol: 'graphql-ws' as const, connectionId: 'c1', instanceId: 'i1' };
const day = raceDay(new Date('2026-07-01T12:00:00.000Z'), 2, 30);

describe('DuckDB history store', () => {
  it('creates the folder and the file, writes in batches, and keeps rows across a restart without duplicates', async () => {
    const cfg = config('restart');
    expect(cfg.kind).toBe('duckdb');
    const first = createHistorySink(cfg);
    await first.connect();
    expect(existsSync(cfg.duckdbPath)).toBe(true);
    for (const e of day.envelopes) await first.write(e);
    const dl = makeDeadLetter('missing-keys', 'productId missing', '{"id":"1","type":"data"}', origin);
    await first.writeDeadLetter(dl);
    await first.close();
    const st = first.status() as BatchingHistoryStatus;
    expect(st).toMatchObject({ stored: day.envelopes.length, deadLettersStored: 1, backlog: 0, lost: 0 });
    // Batches, not a statement per message.
    expect(st.insertAttempts).toBeLessThan(day.envelopes.length / 10);

    // After a restart the same envelopes arrive again (a replay): nothing doubles.
    const second = createHistorySink(cfg);
    await second.connect();
    for (const e of day.envelopes.slice(0, 20)) await second.write(e);
    await second.close();

    const store = await DuckDbStore.open(cfg.duckdbPath, { readOnly: true });
    try {
      const [n] = await store.query('SELECT COUNT(*) AS n, COUNT(DISTINCT envelope_id) AS ids FROM tote_messages');
      expect(n).toEqual({ n: day.envelopes.length, ids: day.envelopes.length });
      const e = day.envelopes.find((x) => x.type === 'SelectionStatusChanged')!;
      const [row] = await store.query(
        `SELECT message_type, root_field, CAST(received_at AS VARCHAR) AS at, source, product_id, leg_id, selection_id, bet_id,
                JSON_VALUE(payload, '$.status') AS status, protocol, connection_id, instance_id
         FROM tote_messages WHERE envelope_id = ?`,
        [e.id],
      );
      expect(row).toEqual({
        message_type: 'SelectionStatusChanged',
        root_field: 'onSelectionStatusChanged',
        at: e.receivedAt.replace('T', ' ').replace('.000Z', '+00'),
        source: 'test',
        product_id: e.keys.productId,
        leg_id: e.keys.legId,
        selection_id: e.keys.selectionId,
        bet_id: null,
        status: 'NOT_AVAILABLE',
        protocol: 'graphql-ws',
        connection_id: 'conn-1',
        instance_id: 'history-test',
      });
      const [d] = await store.query('SELECT reason, detail, raw, raw_truncated FROM tote_dead_letters');
      expect(d).toEqual({ reason: 'missing-keys', detail: 'productId missing', raw: '{"id":"1","type":"data"}', raw_truncated: false });
    } finally {
      store.close();
    }
  });

  it('spills beside the DuckDB file it was given, so a run on a temporary file never writes into ./data', async () => {
    const db = join(dir, 'elsewhere', 'tote.duckdb');
    const cfg = readHistoryConfig(new EnvReader({ DUCKDB_PATH: db }));
    expect(cfg.spill).toMatchObject({ kind: 'file', filePath: join(dir, 'elsewhere', 'history-spill.jsonl') });
    // The default file stays where the docs say.
    expect(readHistoryConfig(new EnvReader({})).spill.filePath).toBe(join('data', 'history-spill.jsonl'));
  });

  it('refuses to start while another process holds the file, naming the file', async () => {
    const cfg = config('held');
    await mkdir(dirname(cfg.duckdbPath), { recursive: true });
    // Another process holds the file for writing, as a running `npm start` does.
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('./src/history/duckdb/duckdb-store.ts').then(async (m) => { await m.DuckDbStore.open(${JSON.stringify(cfg.duckdbPath)}); console.log('held'); setInterval(() => {}, 1000); })`,
      ],
      { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (b: Buffer) => b.toString().includes('held') && resolve());
        holder.on('exit', (c) => reject(new Error(`holder exited with ${c}`)));
      });
      const sink = createHistorySink(cfg);
      const err = await sink.connect().then(
        () => null,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(DuckDbOpenError);
      expect(err!.message).toContain(`${cfg.duckdbPath} is held by another process (DuckDB allows one writer)`);
    } finally {
      holder.kill();
      await new Promise((r) => holder.once('exit', r));
    }
  });

  it('dead-letters a row DuckDB cannot take, with the reason, and stores the rest of its batch', async () => {
    const cfg = config('invalid');
    const sink = createHistorySink(cfg);
    await sink.connect();
    const good = day.envelopes.slice(0, 5);
    const bad: Envelope = { ...day.envelopes[5]!, receivedAt: 'yesterday-ish' };
    for (const e of [...good.slice(0, 2), bad, ...good.slice(2)]) await sink.write(e);
    await sink.close();
    const st = sink.status() as BatchingHistoryStatus;
    expect(st).toMatchObject({ stored: 5, deadLettered: 1, deadLettersStored: 1 });
    const store = await DuckDbStore.open(cfg.duckdbPath, { readOnly: true });
    try {
      const [d] = await store.query('SELECT reason, detail, raw FROM tote_dead_letters');
      expect(d!.reason).toBe('history-rejected');
      expect(String(d!.detail)).toMatch(new RegExp(`tote_messages refused row ${bad.id}: .*yesterday-ish`));
      expect(JSON.parse(String(d!.raw)).insertId).toBe(bad.id);
    } finally {
      store.close();
    }
  });

  it('stores payloads with lone UTF-16 surrogates with their batch: U+FFFD in place, the original kept in original_text, nothing dead-lettered', async () => {
    const cfg = config('surrogates');
    const sink = createHistorySink(cfg);
    await sink.connect();
    const sent = day.envelopes.map((e, i): Envelope => {
      if (i % 10 !== 3) return e;
      // A lone high surrogate in a value and a lone low one in a key; one in an entity key column too.
      return { ...e, payload: { ...e.payload, note: `cut\ud83d`, ['k\udc00']: 1 }, keys: { ...e.keys, productId: `p\ud800` } };
    });
    for (const e of sent) await sink.write(e);
    await sink.close();
    const st = sink.status() as BatchingHistoryStatus;
    expect(st).toMatchObject({ stored: sent.length, deadLettered: 0, lost: 0 });
    const store = await DuckDbStore.open(cfg.duckdbPath, { readOnly: true });
    try {
      const rows = await store.query(
        `SELECT envelope_id, product_id, JSON_VALUE(payload, '$.note') AS note, CAST(payload AS VARCHAR) AS payload, original_text
         FROM tote_messages WHERE original_text IS NOT NULL ORDER BY envelope_id`,
      );
      const repaired = sent.filter((_, i) => i % 10 === 3);
      expect(rows.map((r) => r.envelope_id)).toEqual(repaired.map((e) => e.id).sort());
      for (const r of rows) {
        const e = repaired.find((x) => x.id === r.envelope_id)!;
        expect(r.product_id).toBe('p\ufffd');
        expect(r.note).toBe('cut\ufffd');
        // The original values come back exactly, lone surrogates and all.
        const original = JSON.parse(String(r.original_text)) as Record<string, string>;
        expect(JSON.parse(original.payload!)).toEqual(e.payload);
        expect(original.product_id).toBe(e.keys.productId);
      }
      const [{ clean }] = (await store.query(`SELECT COUNT(*) AS clean FROM tote_messages WHERE original_text IS NULL`)) as [
        { clean: number },
      ];
      expect(clean).toBe(sent.length - repaired.length);
    } finally {
      store.close();
    }
  });

  it('replays dead letters refused again without adding any: each run ends, counts them and exits 1', async () => {
    const cfg = config('dl-replay');
    const sink = createHistorySink(cfg);
    await sink.connect();
    // More than a page (1,000) of rows DuckDB cannot take.
    const bad: Envelope[] = Array.from({ length: 1100 }, (_, i) => ({
      ...day.envelopes[i % day.envelopes.length]!,
      id: randomUUID(),
      receivedAt: 'yesterday-ish',
    }));
    for (const e of bad) await sink.write(e);
    // Finding each bad row of a batch takes row-by-row inserts: wait for all of
    // them rather than race close()'s deadline on a busy machine.
    await sink.flush();
    await sink.close();
    expect(sink.status()).toMatchObject({ deadLettered: bad.length, deadLettersStored: bad.length, lost: 0 });

    const runs: { code: number; out: string; deadLetters: number }[] = [];
    for (let run = 0; run < 2; run++) {
      let out = '';
      const code = await runReplayCli(['--source', 'dead-letters'], cfg, { out: (t) => (out += t + '\n'), err: (t) => (out += t + '\n') });
      const store = await DuckDbStore.open(cfg.duckdbPath, { readOnly: true });
      const [n] = await store.query('SELECT COUNT(*) AS n FROM tote_dead_letters').finally(() => store.close());
      runs.push({ code, out, deadLetters: Number(n!.n) });
    }
    console.log(
      'dead-letter replay, rows refused again:',
      JSON.stringify(runs.map((r) => ({ code: r.code, deadLetters: r.deadLetters, report: r.out.split('\n')[1] }))),
    );
    for (const r of runs) {
      expect(r.code).toBe(1);
      expect(r.out).toMatch(
        new RegExp(`read ${bad.length}, stored 0, dead-lettered 0, left in source 0, unreadable 0, refused again ${bad.length}`),
      );
      expect(r.deadLetters).toBe(bad.length);
    }
  });

  it('keeps a spill work file until every row read from it is stored, so a replay that dies midway loses nothing', async () => {
    const cfg = config('spill-crash');
    const spill = new FileSpill(cfg.spill.filePath);
    await spill.connect();
    const rows = day.envelopes.slice(0, 3).map(messageRow);
    await spill.spill(rows, 'store failing');
    const workFiles = () => readdirSync(dirname(cfg.spill.filePath)).filter((f) => f.includes('.replaying-'));

    // A replay reads every row, then dies before the store has them.
    const first = await new FileSpillSource(cfg.spill.filePath).next(500);
    expect(first!.rows).toHaveLength(3);
    expect(workFiles()).toHaveLength(1);

    // The next replay finds them in the work file; once acknowledged, the file goes.
    const again = new FileSpillSource(cfg.spill.filePath);
    const batch = await again.next(500);
    expect(batch!.rows.map((r) => r.insertId)).toEqual(rows.map((r) => r.insertId));
    expect(workFiles()).toHaveLength(1);
    await batch!.ack(batch!.rows);
    expect(await again.next(500)).toBeNull();
    await again.close();
    expect(workFiles()).toEqual([]);
  });

  it('replays a local spill file into DuckDB with `npm run replay-history`, leaving the file empty', async () => {
    const cfg = config('spill');
    const spill = new FileSpill(cfg.spill.filePath);
    await spill.connect();
    const rows = day.envelopes.map(messageRow);
    await spill.spill(rows.slice(0, 30), 'store failing');
    await spill.spill(rows.slice(25), 'unstored at close'); // overlapping: the same rows spilled twice
    let out = '';
    const code = await runReplayCli([], cfg, { out: (t) => (out += t + '\n'), err: (t) => (out += t + '\n') });
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`read ${rows.length + 5}, stored ${rows.length + 5}, dead-lettered 0, left in source 0`));
    expect(readFileSync(cfg.spill.filePath, { encoding: 'utf8', flag: 'a+' })).toBe('');
    const store = await DuckDbStore.open(cfg.duckdbPath, { readOnly: true });
    try {
      const [n] = await store.query('SELECT COUNT(*) AS n FROM v_messages');
      expect(n!.n).toBe(day.envelopes.length);
    } finally {
      store.close();
    }
  });
});
