import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import { entryForMessageType } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { PubSubConsumer } from '../src/consumer/index.js';
import type { Envelope } from '../src/envelope/envelope.js';
import { DuckDbStore } from '../src/history/duckdb/duckdb-store.js';
import { createHistorySink } from '../src/history/index.js';
import { createLogger } from '../src/log/logger.js';
import { raceSettledChanges } from '../src/simulator/index.js';
import type { RacePlan } from '../src/simulator/day-plan.js';
import { sellingStatusAt } from '../src/simulator/race-status.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import { RECONCILED_TYPES } from '../src/subscriber/reconcile/mapping.js';
import { canonical } from '../src/subscriber/reconcile/shape.js';
import type { ReconcilerStatus } from '../src/subscriber/reconcile/reconciler.js';
import { waitFor } from './helpers/ports.js';
import { SseStream } from './helpers/sse-stream.js';
import { startHarness, type Harness } from './helpers/subscriber-harness.js';

const host = inject('pubsubEmulatorHost');
const skip = inject('pubsubEmulatorSkip');
const PROJECT = 'reconcile-gap';

interface Received {
  type: string;
  envelope: Envelope;
  attributes: Record<string, string>;
  orderingKey: string;
}

describe.skipIf(!host)(`state changed while no socket was open is recovered${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let h: Harness;
  let pubsub: PubSub;
  let consumer: PubSubConsumer;
  let sse: SseService;
  let stream: SseStream;
  let duckdbPath: string;
  let closed = false;
  const received: Received[] = [];

  const reconciliation = async (): Promise<ReconcilerStatus> => (await (await fetch(`${h.service.url}/status`)).json()).reconciliation;
  /** Waits for the n-th finished run and returns the status after it. */
  const runFinished = (n: number) =>
    waitFor(
      async () => {
        const r = await reconciliation();
        return r.runs >= n && r.state !== 'running' && r.lastRun && r.lastRun.finishedAt ? r : null;
      },
      { timeoutMs: 30_000, what: `reconciliation run ${n}` },
    );

  beforeAll(async () => {
    duckdbPath = join(mkdtempSync(join(tmpdir(), 'tote-reconcile-')), 'tote.duckdb');
    const env = {
      BUS: 'pubsub',
      PUBSUB_EMULATOR_HOST: host,
      GOOGLE_CLOUD_PROJECT: PROJECT,
      HISTORY: 'duckdb',
      DUCKDB_PATH: duckdbPath,
      HISTORY_SPILL: 'none',
      HISTORY_BATCH_MAX_DELAY_MS: '50',
      PORT: '0',
      TOTE_RECONCILE_SETTLE_MS: '50',
      TOTE_RECONCILE_MIN_GAP_MS: '0',
      TOTE_RECONCILE_REQUEST_GAP_MS: '0',
    };
    const config = loadConfig(env);
    const log = createLogger({ component: 'test' });
    // Mid-afternoon with the clock paused: markets are open, nothing is announced but what the test changes.
    h = await startHarness({
      sim: { autoplay: false, startAt: '13:30', date: '2026-11-21' },
      env,
      publisher: new PubSubPublisher(config.bus, log),
      history: createHistorySink(config.history),
      graphqlUrl: 'sim',
    });
    pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: host, emulatorMode: true });
    for (const type of RECONCILED_TYPES) {
      const topic = entryForMessageType(type)!.topic;
      const [sub] = await pubsub.topic(topic).createSubscription(`${topic}-reconcile-check`, { enableMessageOrdering: true });
      sub.on('message', (m: Message) => {
        received.push({ type, envelope: JSON.parse(m.data.toString()), attributes: m.attributes, orderingKey: m.orderingKey ?? '' });
        m.ack();
      });
    }
    consumer = new PubSubConsumer({ config: config.bus, sse: config.sse, log });
    await consumer.start();
    sse = await startSseService({ config: config.sse, source: consumer, log, host: '127.0.0.1' });
    stream = await SseStream.open(`${sse.url}/events`);
    h.service.client.start();
  }, 60_000);

  afterAll(async () => {
    stream?.req.destroy();
    await sse?.close();
    await consumer?.close();
    if (!closed) await h?.close();
    await pubsub?.close();
  });

  let race: RacePlan;

  it('a subscriber starting mid-day emits what the gateway knows and it has not seen, marked reconciled', async () => {
    const first = await runFinished(1);
    expect(first.lastRun!.ok).toBe(true);
    expect(first.lastRun!.reason).toBe('connect');
    // A few hundred products and their events in a handful of requests.
    expect(first.lastRun!.requests).toBeLessThanOrEqual(4);
    const plan = h.sim.plan();
    expect(first.lastRun!.entitiesChecked).toBeGreaterThanOrEqual(plan.products.length);
    const open = plan.products.filter((p) => sellingStatusAt(p, h.sim.simNow()) === 'OPEN');
    expect(open.length).toBeGreaterThan(0);
    expect(first.lastRun!.correctionsByType.ProductStatusChanged).toBeGreaterThanOrEqual(open.length);
    // The gateway has no isFinalized: reported, never invented (no pool total has been announced yet, though).
    expect(first.lastRun!.missing['PoolTotalChanged.isFinalized'] ?? 0).toBe(0);
    await waitFor(() => open.every((p) => received.some((r) => r.type === 'ProductStatusChanged' && r.envelope.keys.productId === p.id)), {
      timeoutMs: 20_000,
      what: 'the open products on the topic',
    });
    for (const r of received) {
      expect(r.attributes.delivery).toBe('reconciled');
      expect(r.envelope.delivery).toBe('reconciled');
    }
    race = plan.races.find((r) => r.products.every((p) => sellingStatusAt(p, h.sim.simNow()) === 'OPEN'))!;
    expect(race).toBeDefined();
  });

  it('emits nothing when nothing changed while the socket was down', async () => {
    const before = await reconciliation();
    const reconciledBefore = h.service.ingest.stats().types.ProductStatusChanged!.reconciled;
    h.sim.faults.disconnectAll();
    const after = await runFinished(before.runs + 1);
    expect(after.lastRun!.ok).toBe(true);
    expect(after.lastRun!.reason).toBe('reconnect');
    expect(after.lastRun!.statesCompared).toBeGreaterThan(0);
    expect(after.lastRun!.corrections).toBe(0);
    expect(after.correctionsTotal).toBe(before.correctionsTotal);
    expect(h.service.ingest.stats().types.ProductStatusChanged!.reconciled).toBe(reconciledBefore);
  });

  it('a product closed, a result and dividends declared during a disconnect reach the topics, the SSE stream and DuckDB', async () => {
    const before = await reconciliation();
    const changes = raceSettledChanges(h.sim.plan(), race);
    const deliveries = await h.sim.faults.changeWhileDisconnected(changes);
    expect(deliveries).toBe(0);
    const after = await runFinished(before.runs + 1);
    expect(after.lastRun!.ok).toBe(true);
    const byType = after.lastRun!.correctionsByType;
    expect(byType.ProductStatusChanged).toBe(race.products.length);
    expect(byType.PoolTotalChanged).toBe(race.products.length);
    expect(byType.PoolDividendChanged).toBe(race.products.length);
    expect(byType.EventResultChanged).toBe(1);
    expect(byType.EventStatusChanged).toBe(1);
    expect(byType.CompetitorStatusChanged ?? 0).toBe(race.fate.nonRunners.length);
    expect(after.lastRun!.missing['PoolTotalChanged.isFinalized']).toBeGreaterThanOrEqual(race.products.length);

    // Topics: the matching type, its catalog keys and ordering key, marked reconciled, with Tote's values.
    const last = (type: string, key: 'productId' | 'eventId', id: string) =>
      received.filter((r) => r.type === type && r.envelope.keys[key] === id).at(-1);
    const sent = (rootField: string, id: string) => h.sim.lastSent(rootField, id)!;
    await waitFor(
      () =>
        race.products.every(
          (p) =>
            last('PoolDividendChanged', 'productId', p.id) &&
            last('ProductStatusChanged', 'productId', p.id)?.envelope.payload.status === 'CLOSED',
        ) && last('EventResultChanged', 'eventId', race.id),
      { timeoutMs: 20_000, what: 'the corrections on the topics' },
    );
    for (const p of race.products) {
      const status = last('ProductStatusChanged', 'productId', p.id)!;
      expect(status.attributes.delivery).toBe('reconciled');
      expect(status.orderingKey).toBe(p.id);
      const dividend = last('PoolDividendChanged', 'productId', p.id)!;
      expect(dividend.attributes.delivery).toBe('reconciled');
      const announced = sent('onPoolDividendChanged', p.id).dividends as { dividend: { amounts: { decimalAmount: number }[] } }[];
      const got = dividend.envelope.payload.dividends as { dividend: { amounts: { decimalAmount: number }[] } }[];
      expect(got.map((d) => d.dividend.amounts[0]!.decimalAmount).sort()).toEqual(
        announced.map((d) => d.dividend.amounts[0]!.decimalAmount).sort(),
      );
      const pool = last('PoolTotalChanged', 'productId', p.id)!.envelope.payload as {
        total: { grossAmounts: { decimalAmount: number }[] };
        isFinalized?: boolean;
      };
      expect(pool.total.grossAmounts[0]!.decimalAmount).toBe(p.finalGross);
      expect(pool.isFinalized).toBeUndefined();
    }
    const result = last('EventResultChanged', 'eventId', race.id)!;
    expect(result.orderingKey).toBe(race.id);
    const positions = (rs: { competitorId: string; finishingPosition: string }[]) =>
      canonical(rs.map((r) => ({ competitorId: r.competitorId, finishingPosition: r.finishingPosition })));
    expect(positions(result.envelope.payload.competitorResults as never)).toBe(
      positions(sent('onEventResultChanged', race.id).competitorResults as never),
    );

    // SSE: the browsers' stream carries the same corrections, marked.
    await waitFor(
      () =>
        race.products.every((p) =>
          stream.events.some(
            (e) =>
              e.event === 'ProductStatusChanged' &&
              JSON.parse(e.data).keys.productId === p.id &&
              JSON.parse(e.data).payload.status === 'CLOSED',
          ),
        ) && stream.events.some((e) => e.event === 'EventResultChanged' && JSON.parse(e.data).keys.eventId === race.id),
      { timeoutMs: 20_000, what: 'the corrections on /events' },
    );
    const onStream = stream.events.filter((e) => e.event === 'EventResultChanged').map((e) => JSON.parse(e.data));
    expect(onStream.find((e) => e.keys.eventId === race.id).delivery).toBe('reconciled');

    // Converged: the next reconnect finds nothing to correct.
    h.sim.faults.disconnectAll();
    const again = await runFinished(after.runs + 1);
    expect(again.lastRun!.ok).toBe(true);
    expect(again.lastRun!.corrections).toBe(0);

    // History: analysts filter on the delivery column.
    await h.close();
    closed = true;
    const store = await DuckDbStore.open(duckdbPath, { readOnly: true });
    try {
      const rows = await store.query(
        `select message_type, product_id, event_id, json_extract_string(payload, '$.status') as status from tote_messages where delivery = 'reconciled'`,
      );
      for (const p of race.products) {
        expect(rows.some((r) => r.message_type === 'ProductStatusChanged' && r.product_id === p.id && r.status === 'CLOSED')).toBe(true);
        expect(rows.some((r) => r.message_type === 'PoolDividendChanged' && r.product_id === p.id)).toBe(true);
      }
      expect(rows.some((r) => r.message_type === 'EventResultChanged' && r.event_id === race.id)).toBe(true);
      const live = await store.query(`select count(*)::INTEGER as n from tote_messages where delivery is null`);
      expect(live[0]!.n).toBe(0);
    } finally {
      store.close();
    }
  });
});
