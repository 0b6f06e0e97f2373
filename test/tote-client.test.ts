import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { CATALOG } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/logger.js';
import { ToteClient } from '../src/tote/client.js';
import { waitFor } from './helpers/ports.js';
import { startHarness, TEST_KEY, type Harness } from './helpers/subscriber-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const json = async (url: string, init?: RequestInit) => (await fetch(url, init)).json();

async function allTypesArrive(harness: Harness, timeoutMs = 40_000) {
  const want = new Set(CATALOG.map((e) => e.messageType));
  await waitFor(() => [...want].every((t) => harness.envelopes.some((e) => e.type === t)), {
    timeoutMs,
    what: () => {
      const s = harness.service.client.status();
      const missing = [...want].filter((t) => !harness.envelopes.some((e) => e.type === t));
      return `every message type (missing ${missing.join(',')}; client ${s.state} ${s.protocol} frames=${s.framesReceived} lastError=${s.lastError})`;
    },
  });
}

describe.each(['graphql-ws', 'graphql-transport-ws', 'auto'] as const)('Tote client over %s', (protocol) => {
  it('receives every one of the 15 message types from a racing day as envelopes with their keys', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 }, env: { TOTE_PROTOCOL: protocol } });
    h.service.client.start();
    await allTypesArrive(h);
    // A loaded machine may have replaced a quiet socket meanwhile: the client is running again soon after.
    const status = await waitFor(
      async () => {
        const s = await json(`${h!.service.url}/status`);
        return s.state === 'running' ? s : undefined;
      },
      { what: 'the client running' },
    );
    expect(status.state).toBe('running');
    expect(status.protocol).toBe(protocol === 'auto' ? 'graphql-ws' : protocol);
    for (const entry of CATALOG) {
      const env = h.envelopes.find((e) => e.type === entry.messageType)!;
      expect(env.rootField).toBe(entry.rootField);
      for (const k of entry.keys.filter((k) => k.required)) expect(env.keys[k.name]).toBe(env.payload[k.name]);
      expect(status.types[entry.messageType].received).toBeGreaterThan(0);
      expect(status.operations[entry.rootField].state).toBe('active');
    }
    // Accounting: every received message is published, dead-lettered or in flight.
    const t = status.totals;
    expect(t.received).toBe(t.published + t.deadLettered + t.inFlight);
    expect(t.deadLettered).toBe(0);
  });
});

describe('Tote client', () => {
  it('builds selection sets from the live schema, capturing fields the bundled documents lack', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 } });
    h.service.client.start();
    const pool = await waitFor(() => h!.envelopes.find((e) => e.type === 'PoolTotalChanged'), { timeoutMs: 20_000, what: 'a pool total' });
    expect(pool.payload).toHaveProperty('carryIn');
    expect(pool.payload).toHaveProperty('funds');
    // Deprecated fields are still asked for while Tote has them (total.grossAmount is deprecated in the simulator).
    expect(pool.payload.total as Record<string, unknown>).toHaveProperty('grossAmount');
    const status = await json(`${h.service.url}/status`);
    expect(status.operations.onPoolTotalChanged.selection).toBe('introspection');
  });

  it('falls back to the bundled documents when the schema cannot be introspected', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900, introspection: false } });
    h.service.client.start();
    const pool = await waitFor(() => h!.envelopes.find((e) => e.type === 'PoolTotalChanged'), { timeoutMs: 20_000, what: 'a pool total' });
    expect(Object.keys(pool.payload).sort()).toEqual(['isFinalized', 'productId', 'total']);
    const status = await json(`${h.service.url}/status`);
    expect(status.operations.onPoolTotalChanged.selection).toBe('bundled');
    expect(status.operations.onPoolTotalChanged.selectionNote).toMatch(/introspection/);
  });

  it('reports a rejected key plainly, retries slowly, and never shows the key', async () => {
    const badKey = 'wrong-key-123456789';
    h = await startHarness({ apiKey: badKey });
    h.service.client.start();
    const status = await waitFor(
      async () => {
        const s = await json(`${h!.service.url}/status`);
        return s.state === 'backoff' && s.lastError ? s : null;
      },
      { what: 'backoff after a rejected key' },
    );
    expect(status.lastError).toMatch(/rejected the (API key|connection)/);
    const retryIn = Date.parse(status.nextRetryAt) - Date.now();
    expect(retryIn).toBeGreaterThan(30_000); // TOTE_AUTH_RETRY_MS=60000 with jitter, not the 50 ms backoff
    expect(h.envelopes).toHaveLength(0);
    const everything = JSON.stringify(status) + h.logs.join('\n');
    expect(everything).not.toContain(badKey);
    expect(everything).not.toContain(TEST_KEY);
  });

  it('keeps the other operations streaming when one fails, and retries the failed one', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 } });
    h.sim.faults.failField('onPoolTotalChanged', 'Field "total" was renamed');
    h.service.client.start();
    await waitFor(async () => (await json(`${h!.service.url}/status`)).operations.onPoolTotalChanged.failures >= 1, {
      what: 'the pool-total operation to fail',
    });
    const failed = (await json(`${h.service.url}/status`)).operations.onPoolTotalChanged;
    expect(failed.lastError).toContain('renamed');
    const before = h.envelopes.filter((e) => e.type !== 'PoolTotalChanged').length;
    await waitFor(() => h!.envelopes.filter((e) => e.type !== 'PoolTotalChanged').length > before + 5, {
      what: 'other types to keep arriving',
    });
    h.sim.faults.failField('onPoolTotalChanged', null);
    await waitFor(() => h!.envelopes.some((e) => e.type === 'PoolTotalChanged'), { timeoutMs: 20_000, what: 'pool totals after recovery' });
    expect((await json(`${h.service.url}/status`)).operations.onPoolTotalChanged.state).toBe('active');
  });

  it('reports a field Tote does not have as an error on that operation only', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 } });
    const received: string[] = [];
    const client = new ToteClient({
      config: loadConfig({ TOTE_SUBSCRIPTIONS_URL: h.sim.wsUrl, TOTE_API_KEY: TEST_KEY, TOTE_OPERATION_RETRY_MIN_MS: '5000' }).tote,
      log: createLogger(),
      selectionOverride: (e) => (e.rootField === 'onProductStatusChanged' ? 'productId status sellingStatusV2' : undefined),
      handlers: { onMessage: (entry) => received.push(entry.messageType), onBadFrame: () => undefined },
    });
    client.start();
    try {
      await waitFor(() => client.status().operations.onProductStatusChanged!.lastError, { what: 'a validation error' });
      expect(client.status().operations.onProductStatusChanged!.lastError).toContain('sellingStatusV2');
      await waitFor(() => new Set(received).size >= 5, { timeoutMs: 20_000, what: 'other types' });
      expect(received).not.toContain('ProductStatusChanged');
    } finally {
      await client.stop();
    }
  });

  it('reconnects after an abrupt close and resubscribes every operation', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 } });
    h.service.client.start();
    await waitFor(() => h!.sim.connections() === 1 && h!.service.client.status().state === 'running', { what: 'connected' });
    const firstConnection = h.service.client.status().connectionId;
    h.sim.faults.disconnectAll();
    await waitFor(() => h!.service.client.status().reconnects === 1 && h!.service.client.status().state === 'running', {
      what: 'reconnected',
    });
    expect(h.service.client.status().connectionId).not.toBe(firstConnection);
    const n = h.envelopes.length;
    await waitFor(() => h!.envelopes.length > n + 10, { what: 'messages after the reconnect' });
    expect(h.sim.connections()).toBe(1);
    expect(h.logs.some((l) => l.includes('"tote reconnecting"'))).toBe(true);
  });

  it('replaces a socket that goes silent (no ka) after the liveness interval', async () => {
    h = await startHarness({ sim: { autoplay: false }, env: { TOTE_LIVENESS_TIMEOUT_MS: '1500' } });
    h.service.client.start();
    await waitFor(() => h!.service.client.status().state === 'running', { what: 'connected' });
    h.sim.faults.silence(4_000);
    await waitFor(() => h!.service.client.status().reconnects >= 1, { what: 'socket replaced' });
    expect(h.service.client.status().lastError).toMatch(/no frame from Tote/);
    await waitFor(() => h!.service.client.status().state === 'running', { what: 'running again' });
  });

  it('dead-letters malformed frames with a reason and keeps going', async () => {
    h = await startHarness({ sim: { autoplay: false } });
    h.service.client.start();
    await waitFor(() => h!.service.client.status().state === 'running', { what: 'connected' });
    const opId = h.service.client.status().operations.onPoolTotalChanged!.id!;
    h.sim.faults.sendRaw('{this is not json');
    h.sim.faults.sendRaw('{"payload":{}}');
    h.sim.faults.sendRaw('{"id":"9999","type":"data","payload":{"data":{"onPoolTotalChanged":{"productId":"p"}}}}');
    h.sim.faults.sendRaw(`{"id":"${opId}","type":"data","payload":{"data":{"onPoolTotalChanged":{"isFinalized":false}}}}`);
    await waitFor(() => h!.bus.recentDeadLetters().length === 4, { what: 'four dead letters' });
    const reasons = h.bus.recentDeadLetters().map((d) => d.reason);
    expect(reasons).toEqual(['invalid-json', 'invalid-frame', 'unknown-operation', 'missing-keys']);
    const missing = h.bus.recentDeadLetters()[3]!;
    expect(missing.type).toBe('PoolTotalChanged');
    expect(missing.detail).toContain('productId');
    expect(missing.raw).toContain('isFinalized');
    const status = await json(`${h.service.url}/status`);
    expect(status.deadLetterReasons).toEqual({ 'invalid-json': 1, 'invalid-frame': 1, 'unknown-operation': 1, 'missing-keys': 1 });
    expect(status.state).toBe('running');
    // Still connected and still delivering.
    h.sim.play();
    await waitFor(() => h!.envelopes.length > 0, { timeoutMs: 20_000, what: 'messages after bad frames' });
  });
});

describe('subscriber control API', () => {
  it('starts once however often /start is called, and /stop closes the socket after flushing', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 } });
    const a = await fetch(`${h.service.url}/start`, { method: 'POST' });
    const b = await fetch(`${h.service.url}/start`, { method: 'POST' });
    expect(a.status).toBe(202);
    expect((await b.json()).alreadyStarted).toBe(true);
    await waitFor(() => h!.service.client.status().state === 'running' && h!.envelopes.length > 0, { what: 'running' });
    expect(h.sim.connections()).toBe(1);
    const stop = await json(`${h.service.url}/stop`, { method: 'POST' });
    expect(stop.state).toBe('stopped');
    expect(stop.flushed).toBe(true);
    expect(stop.totals.inFlight).toBe(0);
    expect(stop.totals.received).toBe(stop.totals.published);
    await waitFor(() => h!.sim.connections() === 0, { what: 'socket closed' });
    expect((await fetch(`${h.service.url}/health`)).status).toBe(200);
  });

  it('publishes a marked test envelope to every topic', async () => {
    h = await startHarness();
    const r = await json(`${h.service.url}/test-pubsub`, { method: 'POST' });
    expect(r.ok).toBe(true);
    expect(Object.keys(r.topics)).toHaveLength(15);
    expect(h.envelopes.every((e) => e.test === true)).toBe(true);
    expect(new Set(h.envelopes.map((e) => e.type)).size).toBe(15);
  });

  it('serves Prometheus metrics', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 } });
    h.service.client.start();
    await waitFor(() => h!.envelopes.length > 5, { what: 'messages' });
    const text = await (await fetch(`${h.service.url}/metrics`)).text();
    expect(text).toMatch(/tote_messages_received_total\{type="[A-Za-z]+"\} [1-9]/);
    expect(text).toContain('tote_connected 1');
  });
});

describe('subscriber logs for monitoring', () => {
  it('logs per-type counts since the previous stats line, zeros included, for log-based metrics', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 }, service: { statsIntervalMs: 300 } });
    h.service.client.start();
    const lines = h.logs;
    await waitFor(() => lines.filter((l) => l.includes('"subscriber type stats"')).length >= 45, { what: 'three rounds of type stats' });
    const typeLines = lines.filter((l) => l.includes('"subscriber type stats"')).map((l) => JSON.parse(l));
    expect(new Set(typeLines.map((l) => l.type)).size).toBeGreaterThanOrEqual(15);
    const sum = typeLines.reduce((a, l) => a + l.received, 0);
    const now = (h.service.status() as any).totals.received;
    expect(sum).toBeLessThanOrEqual(now); // deltas add up to at most the running total
    expect(sum).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes('"subscriber stats"'))).toBe(true);
  });
});

describe('stop then start at once', () => {
  it('ends with exactly one running connection and every operation active', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 } });
    h.service.client.start();
    await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.stats().operations === 15, { what: 'running' });
    const stopping = fetch(`${h.service.url}/stop`, { method: 'POST' });
    await fetch(`${h.service.url}/start`, { method: 'POST' });
    await stopping;
    await fetch(`${h.service.url}/start`, { method: 'POST' });
    await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.connections() === 1 && h!.sim.stats().operations === 15, {
      what: () =>
        `one running connection (state ${h!.service.client.status().state}, sockets ${h!.sim.connections()}, operations ${h!.sim.stats().operations})`,
    });
    const ops = Object.values(h.service.client.status().operations);
    expect(ops.every((o) => o.state === 'active' && o.id !== null)).toBe(true);
    const n = h.envelopes.length;
    await waitFor(() => h!.envelopes.length > n + 5, { what: 'messages after the restart' });
  });
});

describe('frames the pipeline cannot carry', () => {
  it('dead-letters a frame over the size limit, replaces the socket, and keeps going', async () => {
    h = await startHarness({ env: { TOTE_MAX_FRAME_BYTES: '4096' } });
    h.service.client.start();
    await waitFor(() => h!.service.client.status().state === 'running', { what: 'connected' });
    h.sim.faults.sendRaw(JSON.stringify({ type: 'ka', padding: 'x'.repeat(10_000) }));
    await waitFor(() => h!.bus.recentDeadLetters().some((d) => d.reason === 'frame-too-large'), { what: 'a frame-too-large dead letter' });
    await waitFor(() => h!.service.client.status().reconnects === 1 && h!.service.client.status().state === 'running', {
      what: 'reconnected',
    });
    expect((h.service.status() as any).deadLetterReasons['frame-too-large']).toBe(1);
  });

  it('dead-letters an envelope whose publish fails, with its message type', async () => {
    class RefusingBus extends MemoryBus {
      override async publish(): Promise<void> {
        throw new Error('topic not found');
      }
    }
    const bus = new RefusingBus();
    h = await startHarness({ publisher: bus, sim: { autoplay: true, speed: 900 } });
    h.service.client.start();
    const dl = await waitFor(() => bus.recentDeadLetters().find((d) => d.reason === 'publish-failed'), {
      what: 'a publish-failed dead letter',
    });
    expect(dl.type).toBeTruthy();
    expect(dl.rootField).toBeTruthy();
    expect(JSON.parse(dl.raw).type).toBe(dl.type);
    const t = (h.service.status() as any).totals;
    expect(t.published).toBe(0);
    expect(t.received).toBe(t.deadLettered + t.inFlight);
  });
});
