import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EnvReader } from '../src/config/env.js';
import { readHistoryConfig, type HistoryConfig } from '../src/config/history.js';
import { BigQueryInserter } from '../src/history/bigquery/bigquery-inserter.js';
import { DeadLetterSource, bigqueryDeadLetters } from '../src/history/dead-letter-source.js';
import { createHistorySink, type BatchingHistoryStatus, type HistorySink } from '../src/history/index.js';
import { replayHistory } from '../src/history/replay.js';
import { DEAD_LETTERS_TABLE, MESSAGE_COLUMNS, MESSAGES_TABLE } from '../src/history/schema.js';
import { FileSpillSource } from '../src/history/spill/file-spill-source.js';
import { messageRow } from '../src/history/rows.js';
import { makeDeadLetter, type Envelope } from '../src/envelope/envelope.js';
import { setLogLevel, setLogWriter } from '../src/log/logger.js';
import { FakeBigQuery, type Fault } from './bigquery-server/fake-bigquery.js';
import { startHistoryStandIn, STAND_IN_DATASET, STAND_IN_PROJECT, type HistoryStandIn } from './bigquery-server/history-stand-in.js';
import { localAuthClient } from './bigquery-server/local-auth.js';
import { waitFor } from './helpers/ports.js';
import { raceDay } from './history-races.js';
import { BigQuery } from '@google-cloud/bigquery';

/**
 * The BigQuery writer, with the real @google-cloud/bigquery client for its
 * endpoint and credentials, against a local insertAll server that injects
 * faults. Time is compressed: backoff of
 * milliseconds, a 150 ms request timeout and a 300 ms spill threshold stand
 * for the defaults' half a second to 30 s, 30 s and two minutes, so an outage
 * of a few hundred failed requests runs in seconds.
 */
const PROJECT = STAND_IN_PROJECT;
const DATASET = STAND_IN_DATASET;

let fake: FakeBigQuery;

// Every injected fault logs a warning; keep the output to the figures.
beforeAll(() => setLogLevel('ERROR'));

let standIn: HistoryStandIn;
beforeEach(async () => {
  standIn = await startHistoryStandIn('tote-bq-');
  ({ fake } = standIn);
});

afterEach(() => standIn.stop());

function config(extra: Record<string, string> = {}): HistoryConfig {
  return readHistoryConfig(
    new EnvReader({
      ...standIn.env(),
      HISTORY_BATCH_MAX_ROWS: '50',
      HISTORY_BATCH_MAX_DELAY_MS: '5',
      HISTORY_BUFFER_MAX_ROWS: '400',
      HISTORY_RETRY_INITIAL_MS: '2',
      HISTORY_RETRY_MAX_MS: '20',
      HISTORY_REQUEST_TIMEOUT_MS: '150',
      HISTORY_SPILL_AFTER_MS: '300',
      HISTORY_CLOSE_TIMEOUT_MS: '3000',
      ...extra,
    }),
  );
}

function sink(cfg: HistoryConfig): HistorySink {
  return createHistorySink(cfg, { bigqueryClientOptions: { authClient: localAuthClient() } });
}

function inserter(cfg: HistoryConfig): BigQueryInserter {
  return new BigQueryInserter({
    projectId: PROJECT,
    dataset: DATASET,
    requestTimeoutMs: cfg.bigquery.requestTimeoutMs,
    apiEndpoint: fake.url,
    clientOptions: { authClient: localAuthClient() },
  });
}

/** A long racing day: ~42 messages a race. */
function envelopes(races: number): Envelope[] {
  return [...raceDay(new Date('2026-07-01T11:00:00Z'), races, 10).envelopes];
}

function rng(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe('BigQuery history writer', () => {
  it('sends raw rows with insertId = envelope id, payload as JSON text, in bounded batches', async () => {
    const cfg = config();
    const s = sink(cfg);
    await s.connect();
    const sent = envelopes(3);
    for (const e of sent) await s.write(e);
    await s.flush();
    await s.close();

    const requests = fake.insertRequests(MESSAGES_TABLE);
    expect(requests.length).toBeGreaterThan(1);
    for (const r of requests) {
      expect(r.rows.length).toBeLessThanOrEqual(cfg.batch.maxRows);
      expect(r.bytes).toBeLessThan(cfg.batch.maxBytes + 64 * 1024);
      expect(r.skipInvalidRows).toBe(true);
    }
    const stored = fake.rows(MESSAGES_TABLE);
    expect(stored.map((r) => r.insertId)).toEqual(sent.map((e) => e.id));
    for (const [i, e] of sent.entries()) {
      expect(stored[i]!.json.envelope_id).toBe(e.id);
      expect(typeof stored[i]!.json.payload).toBe('string');
      expect(JSON.parse(stored[i]!.json.payload as string)).toEqual(e.payload);
      expect(stored[i]!.json.product_id ?? null).toBe(e.keys.productId ?? null);
    }
    expect((s.status() as BatchingHistoryStatus).stored).toBe(sent.length);
  });

  it('stores rows with lone UTF-16 surrogates in the same requests as the rest: U+FFFD in place, originals in original_text', async () => {
    // No injected faults here, so no reason for a short request timeout.
    const cfg = config({ HISTORY_REQUEST_TIMEOUT_MS: '30000' });
    const s = sink(cfg);
    await s.connect();
    const sent = envelopes(2).map((e, i): Envelope => (i % 5 === 0 ? { ...e, payload: { ...e.payload, note: 'x\udfff' } } : e));
    for (const e of sent) await s.write(e);
    await s.close();
    const st = s.status() as BatchingHistoryStatus;
    expect(st).toMatchObject({ stored: sent.length, deadLettered: 0, spilled: 0, lost: 0 });
    // No row was refused and sent again on its own.
    expect(fake.insertRequests(MESSAGES_TABLE).every((r) => r.rows.length > 1)).toBe(true);
    const stored = new Map(fake.rows(MESSAGES_TABLE).map((r) => [r.insertId, r.json]));
    for (const [i, e] of sent.entries()) {
      const json = stored.get(e.id)!;
      if (i % 5 !== 0) {
        expect(json.original_text).toBeUndefined();
        continue;
      }
      expect(JSON.parse(json.payload as string).note).toBe('x\ufffd');
      expect(JSON.parse(JSON.parse(json.original_text as string).payload)).toEqual(e.payload);
    }
  });

  it('keeps every row through a long stretch of faults: nothing lost, nothing duplicated, invalid rows dead-lettered', async () => {
    const cfg = config();
    const s = sink(cfg);
    await s.connect();
    const sent = envelopes(72); // ~3000 messages
    const poison = new Set(sent.filter((_, i) => i % 401 === 7).map((e) => e.id));
    const random = rng(42);
    const faults: Record<string, number> = {};
    const t0 = Date.now();
    // Phases in compressed time: faults of every kind, then a total outage
    // (four times the spill threshold), then faults again while it recovers.
    fake.setFaults(({ table, rows }) => {
      const t = Date.now() - t0;
      let fault: Fault | null = null;
      if (t >= 800 && t < 2000) fault = random() < 0.8 ? { kind: 'status', status: 503, reason: 'backendError' } : { kind: 'hang' };
      else {
        const p = random();
        if (p < 0.12) fault = { kind: 'status', status: 500, reason: 'internalError' };
        else if (p < 0.17) fault = { kind: 'status', status: 429, reason: 'rateLimitExceeded' };
        else if (p < 0.21) fault = { kind: 'hang' };
        else if (p < 0.26) fault = { kind: 'storeThenHang' };
        else if (p < 0.29) fault = { kind: 'reset' };
        else if (p < 0.39) {
          const errors = new Map<number, string>();
          rows.forEach((_, i) => random() < 0.2 && errors.set(i, random() < 0.5 ? 'backendError' : 'timeout'));
          fault = { kind: 'rowErrors', errors };
        }
      }
      if (table === MESSAGES_TABLE) {
        const errors = new Map(fault?.kind === 'rowErrors' ? fault.errors : []);
        rows.forEach((r, i) => poison.has(r.insertId) && errors.set(i, 'invalid'));
        // BigQuery never stores an invalid row: a batch holding one answers with row errors, not store-then-hang.
        if (errors.size && (!fault || fault.kind === 'rowErrors' || fault.kind === 'storeThenHang')) fault = { kind: 'rowErrors', errors };
      }
      if (fault) faults[fault.kind] = (faults[fault.kind] ?? 0) + 1;
      return fault;
    });

    // The feed: one message per millisecond tick, like a busy afternoon sped up.
    let maxBacklog = 0;
    let maxWaiting = 0;
    for (const e of sent) {
      await s.write(e);
      const st = s.status() as BatchingHistoryStatus;
      maxBacklog = Math.max(maxBacklog, st.backlog);
      maxWaiting = Math.max(maxWaiting, st.waitingWriters);
      await new Promise((r) => setTimeout(r, 1));
    }
    await s.flush();
    const during = s.status() as BatchingHistoryStatus;
    await s.close();
    // BigQuery is back; an invalid row is still invalid.
    fake.setFaults(({ table, rows }) => {
      const errors = new Map<number, string>();
      if (table === MESSAGES_TABLE) rows.forEach((r, i) => poison.has(r.insertId) && errors.set(i, 'invalid'));
      return errors.size ? { kind: 'rowErrors', errors } : null;
    });

    // The spilled rows come back with `npm run replay-history` once BigQuery is healthy.
    const spillFile = cfg.spill.filePath;
    const spilledLines = readFileSync(spillFile, 'utf8').trim().split('\n').length;
    const report = await replayHistory(new FileSpillSource(spillFile), inserter(cfg), {
      batchRows: 500,
      maxAttempts: 3,
      retry: { initialMs: 2, maxMs: 20 },
    });

    const stored = fake.rows(MESSAGES_TABLE);
    const storedIds = stored.map((r) => r.insertId);
    const unique = new Set(storedIds);
    const deadLetters = fake.rows(DEAD_LETTERS_TABLE);
    const dlIds = new Set(deadLetters.map((d) => JSON.parse(d.json.raw as string).insertId as string));
    const lost = sent.filter((e) => !unique.has(e.id) && !dlIds.has(e.id));
    // Every attempt at a row carried its envelope id and the same content.
    const seenJson = new Map<string, string>();
    let unstable = 0;
    let attempts = 0;
    for (const r of fake.insertRequests(MESSAGES_TABLE)) {
      for (const row of r.rows) {
        attempts++;
        const text = JSON.stringify(row.json);
        if (row.json.envelope_id !== row.insertId) unstable++;
        if (seenJson.has(row.insertId) && seenJson.get(row.insertId) !== text) unstable++;
        seenJson.set(row.insertId, text);
      }
    }
    const figures = {
      rowsSent: sent.length,
      insertRequests: fake.insertRequests().length,
      rowAttempts: attempts,
      faults,
      stored: unique.size,
      duplicatedInTable: storedIds.length - unique.size,
      retriedRowsDroppedByInsertId: fake.duplicatesDropped,
      deadLettered: dlIds.size,
      spilled: during.spilled,
      spillLines: spilledLines,
      replayed: report.stored,
      replayDeadLettered: report.deadLettered,
      lost: lost.length,
      maxBacklog,
      maxWaitingWriters: maxWaiting,
    };
    console.log('BigQuery writer under faults:', JSON.stringify(figures));

    expect(unstable).toBe(0);
    expect(lost).toEqual([]);
    expect(storedIds.length - unique.size).toBe(0);
    expect(unique.size + dlIds.size).toBe(sent.length);
    expect(dlIds).toEqual(poison);
    for (const d of deadLetters) {
      expect(d.json.reason).toBe('history-rejected');
      expect(String(d.json.detail)).toMatch(/invalid/);
    }
    // The faults really happened: the outage forced spills, timeouts left stored rows to be dropped by insertId.
    expect(during.spilled).toBeGreaterThan(0);
    expect(report.stored).toBeGreaterThan(0);
    expect(report.leftInSource).toBe(0);
    expect(fake.duplicatesDropped).toBeGreaterThan(0);
    expect(during.lost).toBe(0);
    expect(during.lastError).toBeTruthy();
    // Bounded memory: the buffer limit, plus at most one batch of the writer's own dead letters.
    expect(maxBacklog).toBeLessThanOrEqual(cfg.buffer.maxRows + cfg.batch.maxRows);
  });

  it('cancels an insertAll that timed out: BigQuery sees the request aborted and no connection stays open', async () => {
    const cfg = config();
    const ins = inserter(cfg);
    fake.setFaults(() => ({ kind: 'hang' }));
    const rows = envelopes(1).slice(0, 3).map(messageRow);
    const closedAfterMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const outcome = await ins.insert(MESSAGES_TABLE, rows);
      const timedOutAt = Date.now();
      expect(outcome).toEqual({ stored: [], invalid: [], retry: rows, error: 'insertAll did not answer within 150 ms' });
      // Left alone, the stand-in holds each of these requests, and its connection, until it stops.
      await waitFor(() => fake.hungInserts === 0, { what: 'the connection of the timed-out request to close' });
      closedAfterMs.push(Date.now() - timedOutAt);
    }
    expect(fake.insertRequests(MESSAGES_TABLE).map((r) => r.fault)).toEqual(['hang', 'hang', 'hang', 'hang', 'hang']);
    // At most the one idle connection fetch keeps ready for the next request (no request on it).
    const openSockets = fake.openSockets;
    console.log(
      'timed-out inserts:',
      JSON.stringify({ attempts: 5, timeoutMs: cfg.bigquery.requestTimeoutMs, closedAfterMs, openSockets }),
    );
    expect(openSockets).toBeLessThanOrEqual(1);
  });

  it('waits (backpressure) while BigQuery fails and there is no spill, then stores everything once it recovers', async () => {
    const cfg = config({ HISTORY_SPILL: 'none', HISTORY_BUFFER_MAX_ROWS: '100', HISTORY_BATCH_MAX_ROWS: '20' });
    const s = sink(cfg);
    await s.connect();
    let down = true;
    fake.setFaults(() => (down ? { kind: 'status', status: 503, reason: 'backendError' } : null));
    const sent = envelopes(4);
    let written = 0;
    const producer = (async () => {
      for (const e of sent) {
        await s.write(e);
        written++;
      }
    })();
    await waitFor(
      () => (s.status() as BatchingHistoryStatus).waitingWriters === 1 && (s.status() as BatchingHistoryStatus).lastError !== null,
      {
        what: 'the writer to wait for room while inserts fail',
      },
    );
    const st = s.status() as BatchingHistoryStatus;
    expect(st.backlog).toBe(100);
    expect(written).toBe(100);
    expect(st.lastError).toMatch(/503/);
    expect(st.failingSince).not.toBeNull();
    down = false;
    await producer;
    await s.flush();
    await s.close();
    expect(fake.rows(MESSAGES_TABLE).map((r) => r.insertId)).toEqual(sent.map((e) => e.id));
    expect((s.status() as BatchingHistoryStatus).spilled).toBe(0);
  });

  it('spills what it could not store at close (instance shutdown), and dead letters reach their table', async () => {
    const cfg = config({ HISTORY_CLOSE_TIMEOUT_MS: '200' });
    const s = sink(cfg);
    await s.connect();
    fake.setFaults(({ table }) => (table === MESSAGES_TABLE ? { kind: 'hang' } : null));
    const sent = envelopes(2);
    for (const e of sent) await s.write(e);
    const dl = makeDeadLetter('invalid-json', 'not JSON', '{oops', {
      source: 'test',
      protocol: 'graphql-ws',
      connectionId: 'c',
      instanceId: 'i',
    });
    await s.writeDeadLetter(dl);
    await s.close();
    const st = s.status() as BatchingHistoryStatus;
    expect(st.spilled).toBe(sent.length);
    expect(st.backlog).toBe(0);
    expect(st.lost).toBe(0);
    expect(fake.rows(DEAD_LETTERS_TABLE).map((r) => r.json.dead_letter_id)).toEqual([dl.id]);
    const lines = readFileSync(cfg.spill.filePath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(new Set(lines.map((l) => l.insertId))).toEqual(new Set(sent.map((e) => e.id)));
  });

  it.each(['file', 'none'])(
    'at close, rows of writers still waiting for room are spilled or logged as lost, never refused (spill %s)',
    async (spill) => {
      const cfg = config({
        HISTORY_SPILL: spill,
        HISTORY_BUFFER_MAX_ROWS: '5',
        HISTORY_BATCH_MAX_ROWS: '5',
        HISTORY_CLOSE_TIMEOUT_MS: '300',
      });
      const s = sink(cfg);
      await s.connect();
      fake.setFaults(() => ({ kind: 'hang' }));
      const sent = envelopes(1).slice(0, 10);
      const results = sent.map((e) =>
        s.write(e).then(
          () => 'ok',
          (err: Error) => `rejected: ${err.name}`,
        ),
      );
      await waitFor(() => (s.status() as BatchingHistoryStatus).waitingWriters === 5, { what: 'five writers waiting for room' });
      const logged: string[] = [];
      setLogWriter((line) => logged.push(line));
      try {
        await s.close();
      } finally {
        setLogWriter((line) => process.stdout.write(line + '\n'));
      }
      expect(await Promise.all(results)).toEqual(sent.map(() => 'ok'));
      const st = s.status() as BatchingHistoryStatus;
      console.log(
        `close with waiting writers (spill ${spill}):`,
        JSON.stringify({ written: sent.length, spilled: st.spilled, lost: st.lost, backlog: st.backlog }),
      );
      expect(st.backlog).toBe(0);
      if (spill === 'file') {
        expect(st).toMatchObject({ spilled: sent.length, lost: 0 });
        const ids = readFileSync(cfg.spill.filePath, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).insertId as string);
        expect(new Set(ids)).toEqual(new Set(sent.map((e) => e.id)));
      } else {
        expect(st).toMatchObject({ spilled: 0, lost: sent.length });
        // Each lost row is in the log whole, where it can still be recovered from.
        const rows = logged.map((l) => JSON.parse(l)).filter((l) => l.message === 'history row not stored; kept in this log line');
        expect(new Set(rows.map((l) => l.row.envelope_id))).toEqual(new Set(sent.map((e) => e.id)));
      }
    },
  );

  it('dead-letters rows the table refuses (schema drift) and replays them once the table has the column', async () => {
    const cfg = config();
    fake.setSchema(
      MESSAGES_TABLE,
      MESSAGE_COLUMNS.filter((c) => c.name !== 'competitor_id'),
    );
    const s = sink(cfg);
    await s.connect();
    const sent = envelopes(2);
    for (const e of sent) await s.write(e);
    await s.flush();
    await s.close();
    // Only the rows that carry a competitor name the missing column; the others are stored.
    const withCompetitor = sent.filter((e) => e.keys.competitorId);
    expect(withCompetitor.length).toBeGreaterThan(0);
    const st = s.status() as BatchingHistoryStatus;
    expect(st.deadLettered).toBe(withCompetitor.length);
    expect(st.stored).toBe(sent.length - withCompetitor.length);
    expect(fake.rows(DEAD_LETTERS_TABLE)[0]!.json.detail).toMatch(/no such field: competitor_id/);

    const bq = new BigQuery({ projectId: PROJECT, apiEndpoint: fake.url, authClient: localAuthClient() });
    const deadLetters = () =>
      new DeadLetterSource('bigquery dead letters', bigqueryDeadLetters(bq.dataset(DATASET).table(DEAD_LETTERS_TABLE), 7), new Date(0));
    // Replayed before the fix: refused again, counted, and no new dead letter is written.
    const early = await replayHistory(deadLetters(), inserter(cfg), { batchRows: 50, maxAttempts: 2, retry: { initialMs: 1, maxMs: 5 } });
    expect(early).toMatchObject({ read: withCompetitor.length, stored: 0, refusedAgain: withCompetitor.length, deadLettered: 0 });
    expect(fake.rows(DEAD_LETTERS_TABLE)).toHaveLength(withCompetitor.length);

    // The stack adds the column; the replay reads the dead letters back and stores the rows.
    fake.setSchema(MESSAGES_TABLE, MESSAGE_COLUMNS);
    const source = deadLetters();
    const report = await replayHistory(source, inserter(cfg), { batchRows: 50, maxAttempts: 2, retry: { initialMs: 1, maxMs: 5 } });
    expect(report).toMatchObject({ read: withCompetitor.length, stored: withCompetitor.length, deadLettered: 0, leftInSource: 0 });
    expect(new Set(fake.rows(MESSAGES_TABLE).map((r) => r.insertId))).toEqual(new Set(sent.map((e) => e.id)));
    const replayed = fake.rows(MESSAGES_TABLE).find((r) => r.insertId === withCompetitor[0]!.id)!;
    expect(replayed.json.competitor_id).toBe(withCompetitor[0]!.keys.competitorId);
  });
});
