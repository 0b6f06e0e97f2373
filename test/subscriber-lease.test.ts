import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { MemoryBus } from '../src/bus/memory-bus.js';
import { CloudStorageObjects } from '../src/cloud-storage/objects.js';
import { loadConfig } from '../src/config/index.js';
import type { Envelope } from '../src/envelope/envelope.js';
import { DuckDbStore } from '../src/history/duckdb/duckdb-store.js';
import { createHistorySink } from '../src/history/index.js';
import type { HistorySink } from '../src/history/types.js';
import { CloudStorageLeaseStore } from '../src/lease/cloud-storage-lease-store.js';
import { FileLeaseStore } from '../src/lease/file-lease-store.js';
import type { LeaseRecord, LeaseStore } from '../src/lease/lease-store.js';
import { createLogger } from '../src/log/logger.js';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import { identity, SharedBus, sharedHistory } from './chaos/parts.js';
import { startFakeGcs, type FakeGcs } from './cloud-storage-server/fake-gcs.js';
import { waitFor } from './helpers/ports.js';
import { openStream, type SseStream } from './helpers/sse-stream.js';
import { startHarness, TEST_KEY, type Harness } from './helpers/subscriber-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tote-lease-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FAST_LEASE = { SUBSCRIBER_LEASE_TTL_MS: '3000', SUBSCRIBER_LEASE_RENEW_MS: '500', SUBSCRIBER_LEASE_POLL_MS: '150' };
const poolTotals = (es: readonly Envelope[]) => es.filter((e) => e.type === 'PoolTotalChanged');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function instance(sim: Simulator, env: Record<string, string>, bus: MemoryBus, history?: HistorySink): Promise<Harness> {
  const h = await startHarness({ simulator: sim, publisher: bus, env: { ...FAST_LEASE, ...env }, ...(history ? { history } : {}) });
  cleanups.push(() => h.close());
  return h;
}

const leaseOf = (h: Harness) => (h.service.status() as any).lease;
const subscribed = (sim: Simulator) => sim.stats().operations === 15;

describe('two subscriber instances on one feed, file lease', () => {
  it('only the holder connects; after it stops the standby takes over; history and the SSE stream hold one copy of each message', async () => {
    const sim = await startSimulator({ apiKeys: [TEST_KEY], autoplay: false, kaIntervalMs: 200 });
    cleanups.push(() => sim.close());
    const bus = new SharedBus();
    const seen: Envelope[] = [];
    bus.subscribe((e) => seen.push(e));
    const duckPath = join(dir, 'two', 'tote.duckdb');
    const duck = createHistorySink(
      loadConfig({ HISTORY: 'duckdb', DUCKDB_PATH: duckPath, HISTORY_SPILL_FILE: join(dir, 'two', 'spill.jsonl') }).history,
    );
    await duck.connect();
    let duckClosed = false;
    cleanups.push(async () => {
      if (!duckClosed) await duck.close();
    });
    const sse: SseService = await startSseService({
      config: loadConfig({ SSE_HEARTBEAT_MS: '1000' }).sse,
      source: bus,
      log: createLogger({ component: 'test-sse' }),
      host: '127.0.0.1',
    });
    cleanups.push(() => sse.close());
    const stream: SseStream = await openStream(`${sse.url}/events`);
    cleanups.push(async () => {
      stream.req.destroy();
    });

    const env = { SUBSCRIBER_LEASE: `file:${join(dir, 'two', 'subscriber.lease')}` };
    const a = await instance(sim, { ...env, INSTANCE_ID: 'instance-a' }, bus, sharedHistory(duck));
    const b = await instance(sim, { ...env, INSTANCE_ID: 'instance-b' }, bus, sharedHistory(duck));
    a.service.start();
    await waitFor(() => a.service.client.status().state === 'running' && subscribed(sim), { what: 'a connected' });
    b.service.start();
    await waitFor(() => leaseOf(b).state === 'standby', { what: 'b standing by' });
    expect(leaseOf(b).holder).toBe('instance-a');
    expect(leaseOf(a)).toMatchObject({ state: 'held', holder: 'instance-a' });
    expect(b.service.client.status().state).toBe('stopped');
    expect(sim.connections()).toBe(1);
    // A standby is correctly idle: /ready answers 200 and says why it is not connected.
    const standby = await fetch(`${b.service.url}/ready`);
    expect(standby.status).toBe(200);
    expect(await standby.json()).toMatchObject({ state: 'standby' });

    expect(sim.faults.burst(300)).toBe(300);
    await waitFor(() => poolTotals(seen).length === 300, { what: 'the first 300' });

    // A deploy: the old revision gets SIGTERM-like stop; the standby connects once the lease is released.
    await a.service.stopAndFlush();
    await waitFor(() => b.service.client.status().state === 'running' && subscribed(sim) && sim.connections() === 1, {
      what: 'b took over',
    });
    expect(leaseOf(b)).toMatchObject({ state: 'held', holder: 'instance-b' });
    expect(sim.faults.burst(300)).toBe(300);
    await waitFor(() => poolTotals(seen).length === 600, { what: () => `600 after the takeover (have ${poolTotals(seen).length})` });
    await b.service.stopAndFlush();

    const copies = new Map<string, number>();
    for (const e of poolTotals(seen)) copies.set(identity(e), (copies.get(identity(e)) ?? 0) + 1);
    expect(copies.size).toBe(600);
    expect([...copies.values()].every((n) => n === 1)).toBe(true);

    await waitFor(() => stream.events.filter((e) => e.event === 'PoolTotalChanged').length >= 600, { what: 'the SSE stream to carry 600' });
    const sseIdentities = stream.events
      .filter((e) => e.event === 'PoolTotalChanged')
      .map((e) => JSON.stringify(JSON.parse(e.data).payload));
    expect(sseIdentities).toHaveLength(600);
    expect(new Set(sseIdentities).size).toBe(600);

    await duck.close();
    duckClosed = true;
    const store = await DuckDbStore.open(duckPath, { readOnly: true });
    try {
      const [n] = await store.query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT payload) AS distinct_payloads FROM tote_messages WHERE message_type = 'PoolTotalChanged'",
      );
      expect(Number(n!.n)).toBe(600);
      expect(Number(n!.distinct_payloads)).toBe(600);
    } finally {
      store.close();
    }
  });

  it('a lease left by an instance that died is taken over once it expires, not before', async () => {
    const path = join(dir, 'dead', 'subscriber.lease');
    const store = new FileLeaseStore(path);
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const rec: LeaseRecord = {
      holder: 'crashed',
      token: 't',
      acquiredAt: new Date().toISOString(),
      renewedAt: new Date().toISOString(),
      expiresAt,
    };
    expect(await store.write(rec, '0')).toBe('1');
    const sim = await startSimulator({ apiKeys: [TEST_KEY], autoplay: false, kaIntervalMs: 200 });
    cleanups.push(() => sim.close());
    const b = await instance(sim, { SUBSCRIBER_LEASE: `file:${path}`, INSTANCE_ID: 'instance-b' }, new SharedBus());
    b.service.start();
    await waitFor(() => leaseOf(b).state === 'standby', { what: 'standing by behind the dead holder' });
    expect(leaseOf(b).holder).toBe('crashed');
    expect(sim.connections()).toBe(0);
    await waitFor(() => leaseOf(b).state === 'held' && b.service.client.status().state === 'running', {
      timeoutMs: 15_000,
      what: 'taken over after expiry',
    });
    expect(Date.now()).toBeGreaterThan(Date.parse(expiresAt));
  });
});

describe('Cloud Storage lease against a stand-in', () => {
  let gcs: FakeGcs;
  const start = async () => {
    gcs = await startFakeGcs();
    cleanups.push(() => gcs.close());
  };

  it.each(['gs', 'file'])(
    'compare-and-swap (%s): of two instances racing for a free lease exactly one wins, and a stale generation cannot renew or delete',
    async (kind) => {
      await start();
      const path = join(dir, 'cas', 'subscriber.lease');
      const stores: LeaseStore[] = [0, 1].map(() =>
        kind === 'gs'
          ? new CloudStorageLeaseStore(new CloudStorageObjects({ bucket: 'lease-bucket', endpoint: gcs.endpoint }), 'subscriber/lease')
          : new FileLeaseStore(path),
      );
      const rec = (holder: string): LeaseRecord => ({
        holder,
        token: holder,
        acquiredAt: 'x',
        renewedAt: 'x',
        expiresAt: new Date(Date.now() + 10_000).toISOString(),
      });
      const results = await Promise.all(stores.map((s, i) => s.write(rec(`i${i}`), '0')));
      expect(results.filter((g) => g !== null)).toHaveLength(1);
      const current = await stores[0]!.read();
      const winner = results.findIndex((g) => g !== null);
      expect(current!.record.holder).toBe(`i${winner}`);
      const renewed = await stores[winner]!.write(rec(`i${winner}`), current!.generation);
      expect(renewed).not.toBeNull();
      expect(await stores[0]!.write(rec('late'), current!.generation)).toBeNull();
      expect(await stores[0]!.delete(current!.generation)).toBe(false);
      expect(await stores[0]!.delete(renewed!)).toBe(true);
      expect(await stores[0]!.read()).toBeNull();
    },
  );

  it('a holder that cannot renew stops consuming before its lease expires; when Cloud Storage is back an instance holds it again', async () => {
    await start();
    const sim = await startSimulator({ apiKeys: [TEST_KEY], autoplay: false, kaIntervalMs: 200 });
    cleanups.push(() => sim.close());
    const env = { SUBSCRIBER_LEASE: 'gs://lease-bucket/subscriber/lease', STORAGE_EMULATOR_HOST: gcs.endpoint };
    const a = await instance(sim, { ...env, INSTANCE_ID: 'instance-a' }, new SharedBus());
    a.service.start();
    await waitFor(() => a.service.client.status().state === 'running' && leaseOf(a).state === 'held', { what: 'a holding and connected' });
    gcs.failWith(503);
    // The last expiry written, plus one renewal that may have been in flight.
    const heldUntil = Date.parse(leaseOf(a).expiresAt) + 500;
    await waitFor(() => leaseOf(a).state === 'fenced' || leaseOf(a).state === 'acquiring' || leaseOf(a).state === 'standby', {
      timeoutMs: 10_000,
      what: 'a fenced',
    });
    await waitFor(() => a.service.client.status().state === 'stopped', { what: 'the socket closed' });
    // Fenced before the last record it wrote could have expired: no overlap with a successor.
    expect(Date.now()).toBeLessThan(heldUntil);
    expect(leaseOf(a).lastError).toMatch(/503/);

    gcs.failWith(null);
    await waitFor(() => leaseOf(a).state === 'held' && a.service.client.status().state === 'running', {
      timeoutMs: 15_000,
      what: 'held again',
    });
  });
});
