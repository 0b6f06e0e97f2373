import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EnvReader } from '../src/config/env.js';
import { readHistoryConfig, type HistoryConfig } from '../src/config/history.js';
import { createHistorySink, type BatchingHistoryStatus } from '../src/history/index.js';
import { runReplayCli } from '../src/history/replay-cli.js';
import { DEAD_LETTER_COLUMNS, DEAD_LETTERS_TABLE, MESSAGE_COLUMNS, MESSAGES_TABLE } from '../src/history/schema.js';
import { setLogLevel } from '../src/log/logger.js';
import { FakeBigQuery } from './bigquery-server/fake-bigquery.js';
import { localAuthClient } from './bigquery-server/local-auth.js';
import { startTcpProxy } from './chaos/tcp-proxy.js';
import { raceDay } from './history-races.js';

/**
 * The cloud spill path end to end: BigQuery (the local stand-in) is down,
 * the writer spills to a Pub/Sub topic on the emulator, the instance goes
 * away, and `npm run replay-history` drains the subscription into BigQuery
 * with the original insertIds, acknowledging only what BigQuery took.
 */
const host = inject('pubsubEmulatorHost');
const suffix = randomBytes(4).toString('hex');
let fake: FakeBigQuery;

beforeAll(async () => {
  setLogLevel('ERROR');
  fake = await FakeBigQuery.start({
    project: 'tote-spill',
    dataset: 'tote',
    schemas: { [MESSAGES_TABLE]: MESSAGE_COLUMNS, [DEAD_LETTERS_TABLE]: DEAD_LETTER_COLUMNS },
  });
});

afterAll(async () => {
  await fake?.stop();
});

function config(pubsubHost = host): HistoryConfig {
  return readHistoryConfig(
    new EnvReader({
      HISTORY: 'bigquery',
      BQ_PROJECT: 'tote-spill',
      BQ_DATASET: 'tote',
      BQ_API_ENDPOINT: fake.url,
      HISTORY_SPILL: 'pubsub',
      BUS: 'pubsub',
      PUBSUB_EMULATOR_HOST: pubsubHost,
      GOOGLE_CLOUD_PROJECT: 'local-tote',
      HISTORY_SPILL_TOPIC: `tote-history-spill-${suffix}`,
      HISTORY_SPILL_SUBSCRIPTION: `tote-history-spill-replay-${suffix}`,
      HISTORY_BATCH_MAX_ROWS: '50',
      HISTORY_BATCH_MAX_DELAY_MS: '5',
      HISTORY_BUFFER_MAX_ROWS: '100',
      HISTORY_RETRY_INITIAL_MS: '2',
      HISTORY_RETRY_MAX_MS: '10',
      HISTORY_SPILL_AFTER_MS: '50',
      HISTORY_REQUEST_TIMEOUT_MS: '500',
    }),
  );
}

async function replay(
  cfg: HistoryConfig,
  args = ['--idle-ms', '1500', '--batch', '100'],
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runReplayCli(
    args,
    cfg,
    { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') },
    {
      bigqueryClientOptions: { authClient: localAuthClient() },
    },
  );
  return { code, out, err };
}

describe.skipIf(!host)(`history spill to Pub/Sub (${inject('pubsubEmulatorSkip') || 'emulator'})`, () => {
  it('spills while BigQuery is down, keeps rows through a failed replay, and replays them all once it is back', async () => {
    const cfg = config();
    expect(cfg.spill.createTopics).toBe(true);
    const sent = raceDay(new Date('2026-07-01T12:00:00Z'), 6, 15).envelopes;
    let down = true;
    fake.setFaults(() => (down ? { kind: 'status', status: 503, reason: 'backendError' } : null));

    const sink = createHistorySink(cfg, { bigqueryClientOptions: { authClient: localAuthClient() } });
    await sink.connect();
    for (const e of sent) await sink.write(e);
    await sink.flush();
    await sink.close(); // the instance stops; its memory is gone, the topic keeps the rows
    const st = sink.status() as BatchingHistoryStatus;
    expect(st).toMatchObject({ stored: 0, spilled: sent.length, lost: 0, backlog: 0 });
    expect(st.spillTarget).toBe(`pubsub:tote-history-spill-${suffix}`);

    // Replaying too early: BigQuery still refuses, nothing is acknowledged.
    const early = await replay(cfg);
    expect(early.code).toBe(1);
    expect(early.err).toMatch(/stopped early: bigquery still failing: HTTP 503/);
    expect(fake.rows(MESSAGES_TABLE)).toHaveLength(0);

    down = false;
    const r = await replay(cfg);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`stored ${sent.length}, dead-lettered 0, left in source 0`));
    const stored = fake.rows(MESSAGES_TABLE);
    const storedIds = new Set(stored.map((x) => String(x.json.envelope_id)));
    const figures = {
      rowsSent: sent.length,
      spilled: st.spilled,
      stored: stored.length,
      // Rows in the raw table beyond one per envelope, and sent envelopes with no row.
      duplicated: stored.length - storedIds.size,
      lost: sent.filter((e) => !storedIds.has(e.id)).length,
    };
    console.log('Pub/Sub spill:', JSON.stringify(figures));
    expect(figures).toMatchObject({ stored: sent.length, duplicated: 0, lost: 0 });
    expect(storedIds).toEqual(new Set(sent.map((e) => e.id)));
    for (const row of stored) expect(row.json.envelope_id).toBe(row.insertId);

    // Everything was acknowledged: a second replay finds nothing.
    const again = await replay(cfg);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/read 0, stored 0/);
  });

  it('does not take a slow warehouse for an empty spill: storing a batch may outlast the idle wait', async () => {
    const cfg = config();
    const sent = raceDay(new Date('2026-07-02T12:00:00Z'), 6, 15).envelopes;
    fake.setFaults(() => ({ kind: 'status', status: 503, reason: 'backendError' }));
    const sink = createHistorySink(cfg, { bigqueryClientOptions: { authClient: localAuthClient() } });
    await sink.connect();
    for (const e of sent) await sink.write(e);
    await sink.flush();
    await sink.close();
    expect((sink.status() as BatchingHistoryStatus).spilled).toBe(sent.length);

    // Each insert takes longer than the replay waits for a quiet subscription:
    // flow control holds the next rows back until the batch is acknowledged.
    fake.setFaults(() => ({ kind: 'slow', ms: 400 })); // under the 500 ms request timeout
    const r = await replay(cfg, ['--idle-ms', '200', '--batch', '50']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`stored ${sent.length}, dead-lettered 0, left in source 0`));
    const storedIds = new Set(fake.rows(MESSAGES_TABLE).map((x) => String(x.json.envelope_id)));
    expect(sent.filter((e) => !storedIds.has(e.id))).toEqual([]);
  });

  it('does not take a slow Pub/Sub for an empty spill: every answer arriving late still drains it all', async () => {
    const sent = raceDay(new Date('2026-07-03T12:00:00Z'), 6, 15).envelopes;
    fake.setFaults(() => ({ kind: 'status', status: 503, reason: 'backendError' }));
    const sink = createHistorySink(config(), { bigqueryClientOptions: { authClient: localAuthClient() } });
    await sink.connect();
    for (const e of sent) await sink.write(e);
    await sink.flush();
    await sink.close();
    expect((sink.status() as BatchingHistoryStatus).spilled).toBe(sent.length);
    fake.setFaults(() => null);

    // The replay reaches the emulator through a relay that holds each answer
    // ten times longer than the replay's idle wait: a loaded emulator, or a
    // starved replay process that reads its socket late.
    const proxy = await startTcpProxy(host);
    try {
      proxy.delayAnswers(1_000);
      const r = await replay(config(proxy.host), ['--idle-ms', '100', '--batch', '100']);
      expect(r.err).toBe('');
      expect(r.out).toMatch(new RegExp(`stored ${sent.length}, dead-lettered 0, left in source 0`));
      expect(r.code).toBe(0);
    } finally {
      await proxy.close();
    }
    const storedIds = new Set(fake.rows(MESSAGES_TABLE).map((x) => String(x.json.envelope_id)));
    expect(sent.filter((e) => !storedIds.has(e.id))).toEqual([]);
  });
});
