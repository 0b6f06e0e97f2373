import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/logger.js';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import { ToteClient } from '../src/tote/client.js';
import { waitFor } from './helpers/ports.js';

const KEY = 'hook-key-5e1f2a9c';

describe("the Tote client's connect hook (what starts a reconciliation)", () => {
  let sim: Simulator | undefined;
  let client: ToteClient | undefined;
  afterEach(async () => {
    await client?.stop();
    await sim?.close();
    client = sim = undefined;
  });

  it('fires once per socket, after the ack with every operation started, saying whether it is a reconnect', async () => {
    sim = await startSimulator({ apiKeys: [KEY], autoplay: false, kaIntervalMs: 200 });
    const calls: { connectionId: string; reconnect: boolean; operations: number }[] = [];
    const c = new ToteClient({
      config: loadConfig({
        TOTE_SUBSCRIPTIONS_URL: sim.wsUrl,
        TOTE_API_KEY: KEY,
        TOTE_RECONNECT_MIN_MS: '50',
        TOTE_RECONNECT_MAX_MS: '200',
      }).tote,
      log: createLogger(),
      handlers: {
        onMessage: () => undefined,
        onBadFrame: () => undefined,
        onConnected: (info) =>
          calls.push({ ...info, operations: Object.values(c.status().operations).filter((o) => o.state === 'active').length }),
      },
    });
    client = c;
    c.start();
    await waitFor(() => calls.length === 1, { what: 'the first connect' });
    expect(calls[0]).toMatchObject({ reconnect: false, operations: 15, connectionId: c.status().connectionId });
    sim.faults.disconnectAll();
    await waitFor(() => calls.length === 2, { what: 'the reconnect' });
    expect(calls[1]).toMatchObject({ reconnect: true, operations: 15 });
    expect(calls[1]!.connectionId).not.toBe(calls[0]!.connectionId);
    // A stop and a start (as /stop and /start do) is a first connect again.
    await c.stop();
    c.start();
    await waitFor(() => calls.length === 3, { what: 'the connect after a start' });
    expect(calls[2]!.reconnect).toBe(false);
  });
});
