import { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/logger.js';
import { ToteClient } from '../src/tote/client.js';
import { waitFor } from './helpers/ports.js';
import { startHarness, TEST_KEY, type Harness } from './helpers/subscriber-harness.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('the daily window (06:00–23:00 Europe/London)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('connects when the window opens and stops, flushed, when it closes', async () => {
    let clock = new Date('2026-07-01T04:58:00Z'); // 05:58 BST: just before the window
    h = await startHarness({
      sim: { autoplay: true, speed: 900 },
      env: { SUBSCRIBER_AUTO_START: 'true' }, // 06:00–23:00 Europe/London by default
      service: { now: () => clock, windowCheckMs: 50 },
    });
    await new Promise((r) => setTimeout(r, 200)); // four window checks
    expect(h.service.client.status().state).toBe('stopped');
    expect(h.sim.connections()).toBe(0);

    clock = new Date('2026-07-01T05:00:30Z'); // 06:00:30 BST
    await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.connections() === 1, { what: 'connected at 06:00' });
    // Messages flow before the window closes, however slowly the machine runs.
    await waitFor(() => h!.service.status().totals.received > 0, { what: 'a message inside the window' });

    clock = new Date('2026-07-01T22:00:30Z'); // 23:00:30 BST
    await waitFor(() => h!.service.client.status().state === 'stopped' && h!.sim.connections() === 0, { what: 'stopped at 23:00' });
    const t = h.service.status().totals;
    expect(t.received).toBeGreaterThan(0);
    expect(t.inFlight).toBe(0);
    expect(t.received).toBe(t.published);
  });
});

describe('Tote client edge cases', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('resubscribes an operation that Tote completes, and keeps receiving it', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 } });
    h.service.client.start();
    await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.stats().operations === 15, { what: 'subscribed' });
    const firstId = h.service.client.status().operations.onPoolTotalChanged!.id;
    expect(h.sim.faults.complete('onPoolTotalChanged')).toBe(1);
    await waitFor(
      () => {
        const op = h!.service.client.status().operations.onPoolTotalChanged!;
        return op.state === 'active' && op.id !== firstId;
      },
      { what: 'a new operation for onPoolTotalChanged' },
    );
    const n = h.envelopes.filter((e) => e.type === 'PoolTotalChanged').length;
    await waitFor(() => h!.envelopes.filter((e) => e.type === 'PoolTotalChanged').length > n, {
      what: 'pool totals after the resubscribe',
    });
    expect(h.logs.some((l) => l.includes('tote completed an operation; resubscribing'))).toBe(true);
    expect(h.service.client.status().reconnects).toBe(0);
  });

  it('gives up on a server that never acknowledges the connection, and tries again', async () => {
    // A server that accepts the socket and the subprotocol but never sends connection_ack.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('graphql-ws') ? 'graphql-ws' : false) });
    await new Promise((r) => wss.once('listening', r));
    let connections = 0;
    wss.on('connection', () => connections++);
    cleanup.push(() => new Promise((r) => wss.close(() => r())));
    const port = (wss.address() as { port: number }).port;
    const config = loadConfig({
      TOTE_SUBSCRIPTIONS_URL: `ws://127.0.0.1:${port}/`,
      TOTE_API_KEY: TEST_KEY,
      TOTE_INTROSPECT: 'false',
      TOTE_CONNECT_TIMEOUT_MS: '600',
      TOTE_RECONNECT_MIN_MS: '50',
      TOTE_RECONNECT_MAX_MS: '100',
    });
    const client = new ToteClient({
      config: config.tote,
      log: createLogger(),
      handlers: { onMessage: () => undefined, onBadFrame: () => undefined },
    });
    cleanup.push(() => client.stop());
    client.start();
    await waitFor(() => connections >= 2, { what: 'a second attempt' });
    expect(client.status().lastError).toMatch(/no connection_ack within 600 ms/);
    expect(client.status().state).not.toBe('running');
  });
});
