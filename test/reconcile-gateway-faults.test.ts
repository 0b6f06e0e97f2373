import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReconcilerStatus } from '../src/subscriber/reconcile/reconciler.js';
import { freePort, waitFor } from './helpers/ports.js';
import { startHarness, TEST_KEY, type Harness } from './helpers/subscriber-harness.js';

type Mode = 'pass' | 'refuse-key' | 'hang';

/**
 * A real HTTP hop in front of the simulator's gateway that counts requests
 * and can refuse the key (401) or never answer, as Tote's gateway might.
 */
async function gatewayProxy(target: () => string) {
  let mode: Mode = 'pass';
  let requests = 0;
  const sockets = new Set<Socket>();
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    // The day-card relay shares the gateway; only the reconciliation's queries are counted.
    if (Buffer.concat(chunks).toString().includes('query DayState')) requests++;
    if (mode === 'hang') return; // the request is left open until the client gives up
    if (mode === 'refuse-key') {
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ message: 'The API key is not valid.' }] }));
      return;
    }
    const upstream = await fetch(target(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: String(req.headers.authorization) },
      body: Buffer.concat(chunks),
    });
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text());
  };
  // The gateway unreachable behind the hop answers 502, as a real proxy does, instead of an unhandled rejection.
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/partner/gateway/graphql`,
    set mode(m: Mode) {
      mode = m;
    },
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const FAST = {
  TOTE_RECONCILE_SETTLE_MS: '20',
  TOTE_RECONCILE_MIN_GAP_MS: '0',
  TOTE_RECONCILE_REQUEST_GAP_MS: '0',
  TOTE_RECONCILE_RETRY_MIN_MS: '50',
  TOTE_RECONCILE_RETRY_MAX_MS: '200',
  TOTE_RECONCILE_TIMEOUT_MS: '500',
};

let h: Harness | undefined;
let proxy: Awaited<ReturnType<typeof gatewayProxy>> | undefined;
afterEach(async () => {
  // The proxy first: a request it holds would hold the day-card relay's stop until its timeout.
  await proxy?.close();
  await h?.close();
  h = proxy = undefined;
});

describe('a failing query gateway', () => {
  const status = async (): Promise<ReconcilerStatus> => (await (await fetch(`${h!.service.url}/status`)).json()).reconciliation;

  /** The live feed still delivers: a message emitted now arrives as a live envelope. */
  const feedStillRuns = async (marker: string) => {
    const productId = `live-${marker}`;
    h!.sim.emit('onProductStatusChanged', { productId, status: 'OPEN' });
    await waitFor(() => h!.envelopes.some((e) => e.keys.productId === productId && e.delivery === undefined), {
      what: `live envelope ${marker}`,
    });
    expect(h!.service.client.status().state).toBe('running');
  };

  for (const [mode, expected] of [
    ['refuse-key', /401/],
    ['hang', /no answer within 500 ms|aborted/],
  ] as const) {
    it(`(${mode}) is retried with backoff, shown in /status and /metrics, and the live feed keeps running`, async () => {
      let simUrl = '';
      proxy = await gatewayProxy(() => simUrl);
      proxy.mode = mode;
      h = await startHarness({ sim: { autoplay: false, startAt: '13:30' }, env: FAST, graphqlUrl: proxy.url });
      simUrl = h.sim.gatewayUrl;
      h.service.client.start();
      const failing = await waitFor(
        async () => {
          const s = await status();
          return s.failures >= 3 ? s : null;
        },
        { timeoutMs: 20_000, what: 'three failed reconciliations' },
      );
      expect(failing.lastError).toMatch(expected);
      expect(failing.lastRun!.ok).toBe(false);
      expect(failing.consecutiveFailures).toBeGreaterThanOrEqual(3);
      expect(failing.lastError).not.toContain(TEST_KEY);
      await feedStillRuns(mode);
      const metrics = await (await fetch(`${h.service.url}/metrics`)).text();
      expect(metrics).toMatch(/tote_reconciliations_total\{outcome="failed"\} [3-9]|tote_reconciliations_total\{outcome="failed"\} \d\d/);
      expect(metrics).toMatch(/tote_reconciliation_consecutive_failures [1-9]/);

      // The gateway comes back: the next retry succeeds without a reconnect.
      proxy.mode = 'pass';
      const ok = await waitFor(
        async () => {
          const s = await status();
          return s.lastRun?.ok ? s : null;
        },
        { timeoutMs: 20_000, what: 'a reconciliation that succeeds' },
      );
      expect(ok.lastRun!.reason).toMatch(/^retry after: connect/);
      expect(ok.consecutiveFailures).toBe(0);
      expect(ok.correctionsTotal).toBeGreaterThan(0);
      expect(h.service.client.status().reconnects).toBe(0);
    });
  }

  it('(down) counts a refused connection as a failure and the live feed keeps running', async () => {
    const closedPort = await freePort();
    h = await startHarness({
      sim: { autoplay: false, startAt: '13:30' },
      env: FAST,
      graphqlUrl: `http://127.0.0.1:${closedPort}/partner/gateway/graphql`,
    });
    h.service.client.start();
    const failing = await waitFor(
      async () => {
        const s = await status();
        return s.failures >= 2 ? s : null;
      },
      { timeoutMs: 20_000, what: 'two failed reconciliations' },
    );
    expect(failing.lastError).toMatch(/request failed/);
    await feedStillRuns('down');
  });
});

describe('a storm of reconnects', () => {
  it('is one reconciliation waiting, not one query per socket', async () => {
    let simUrl = '';
    proxy = await gatewayProxy(() => simUrl);
    h = await startHarness({
      sim: { autoplay: false, startAt: '13:30' },
      env: { ...FAST, TOTE_RECONCILE_MIN_GAP_MS: '600000' },
      graphqlUrl: proxy.url,
    });
    simUrl = h.sim.gatewayUrl;
    h.service.client.start();
    const first = await waitFor(
      async () => {
        const s = await status(h!);
        return s.lastRun?.ok ? s : null;
      },
      { what: 'the first reconciliation' },
    );
    const requestsAfterFirst = proxy.requests;
    expect(first.lastRun!.requests).toBe(requestsAfterFirst);
    expect(requestsAfterFirst).toBeLessThanOrEqual(4);

    const storm = 10;
    for (let i = 0; i < storm; i++) {
      const before = h.service.client.status().reconnects;
      h.sim.faults.disconnectAll();
      await waitFor(() => h!.service.client.status().reconnects > before && h!.service.client.status().state === 'running', {
        what: `reconnect ${i + 1}`,
      });
    }
    const after = await status(h);
    expect(after.requested).toBe(storm + 1);
    expect(after.runs).toBe(1);
    expect(after.coalesced).toBe(storm - 1);
    expect(after.state).toBe('waiting');
    expect(Date.parse(after.nextRunAt!)).toBeGreaterThan(Date.now() + 60_000);
    expect(proxy.requests).toBe(requestsAfterFirst);
  });
});

async function status(h: Harness): Promise<ReconcilerStatus> {
  return (await (await fetch(`${h.service.url}/status`)).json()).reconciliation;
}
