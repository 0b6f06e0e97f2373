import { afterEach, describe, expect, it } from 'vitest';
import { entryForRootField, type CatalogEntry } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import type { DeadLetterReason } from '../src/envelope/envelope.js';
import { createLogger } from '../src/log/logger.js';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import { ToteClient, type ClientHandlers } from '../src/tote/client.js';
import { isAuthFailure } from '../src/tote/close-reasons.js';
import { freePort, waitFor } from './helpers/ports.js';
import { payloadFor, startHarness, TEST_KEY, type Harness } from './helpers/subscriber-harness.js';

let h: Harness | undefined;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  while (cleanups.length) await cleanups.pop()!();
});

const json = async (url: string) => (await fetch(url)).json();
const pool = (harness: Harness) => harness.service.client.status().operations.onPoolTotalChanged!;

interface Calls {
  messages: { entry: CatalogEntry; payload: Record<string, unknown>; raw: string }[];
  bad: { reason: DeadLetterReason; detail: string; raw: string }[];
  connected: { connectionId: string; reconnect: boolean }[];
}

/** A client straight on the simulator, with handlers that record what reached them. */
async function directClient(env: Record<string, string> = {}, handlers: Partial<ClientHandlers> = {}, sim?: Simulator) {
  const s = sim ?? (await startSimulator({ apiKeys: [TEST_KEY], autoplay: false, kaIntervalMs: 200 }));
  if (!sim) cleanups.push(() => s.close());
  const calls: Calls = { messages: [], bad: [], connected: [] };
  const client = new ToteClient({
    config: loadConfig({
      TOTE_SUBSCRIPTIONS_URL: s.wsUrl,
      TOTE_API_KEY: TEST_KEY,
      TOTE_RECONNECT_MIN_MS: '50',
      TOTE_RECONNECT_MAX_MS: '400',
      TOTE_OPERATION_RETRY_MIN_MS: '100',
      TOTE_OPERATION_RETRY_MAX_MS: '400',
      TOTE_LIVENESS_TIMEOUT_MS: '5000',
      ...env,
    }).tote,
    log: createLogger({ component: 'test-tote-client' }),
    handlers: {
      onMessage: (entry, payload, raw) => calls.messages.push({ entry, payload, raw }),
      onBadFrame: (reason, detail, raw) => calls.bad.push({ reason, detail, raw }),
      onConnected: (info) => calls.connected.push(info),
      ...handlers,
    },
  });
  cleanups.push(() => client.stop());
  return { sim: s, client, calls };
}

describe('a document Tote refuses', () => {
  it('is asked again one level shallower until Tote accepts it, and /status says which depth is in use and why', async () => {
    h = await startHarness();
    h.sim.faults.limitDepth(4);
    h.service.client.start();
    await waitFor(() => pool(h!).state === 'active' && pool(h!).selectionDepth === 4, {
      what: () => `the pool-total operation active at depth 4 (${JSON.stringify(pool(h!))})`,
    });
    const op = (await json(`${h.service.url}/status`)).operations.onPoolTotalChanged;
    expect(op.selection).toBe('introspection');
    expect(op.refusals).toBeGreaterThanOrEqual(1);
    expect(op.selectionNote).toMatch(/refused the depth-5 document \(.*max allowed execution depth of 4.*\); using depth 4/);
    h.sim.faults.burst(3);
    const env = await waitFor(() => h!.envelopes.find((e) => e.type === 'PoolTotalChanged'), { what: 'a pool total at depth 4' });
    // What introspection adds is still asked for (carryIn); what was deeper than 4 (amounts' currency) is not.
    expect(env.payload).toHaveProperty('carryIn');
    const gross = (env.payload.total as { grossAmounts: Record<string, unknown>[] }).grossAmounts;
    expect(gross[0]).toHaveProperty('decimalAmount');
    expect(gross[0]).not.toHaveProperty('currency');

    // A reconnect does not walk down the same steps again.
    const refusals = pool(h).refusals;
    h.sim.faults.disconnectAll();
    await waitFor(() => h!.service.client.status().reconnects === 1 && pool(h!).state === 'active', {
      what: 'resubscribed after a reconnect',
    });
    expect(pool(h).selectionDepth).toBe(4);
    expect(pool(h).refusals).toBe(refusals);

    // The next start (the next morning) asks for the full document again.
    h.sim.faults.limitDepth(null);
    await h.service.client.stop();
    h.service.client.start();
    await waitFor(() => h!.service.client.status().state === 'running' && pool(h!).state === 'active', { what: 'running after a restart' });
    expect(pool(h).selectionDepth).toBeGreaterThan(4);
    expect(pool(h).refusals).toBe(0);
    expect(pool(h).selectionNote).toBeNull();
  });

  it('falls back to the bundled document when every shallower selection is refused', async () => {
    h = await startHarness();
    // The schema advertises toteId on bets but validation refuses it: no depth of the introspected selection helps.
    h.sim.faults.refuseField('toteId');
    h.service.client.start();
    const bet = () => h!.service.client.status().operations.onBetAccepted!;
    await waitFor(() => bet().state === 'active' && bet().selection === 'bundled', {
      what: () => `the bet operation on the bundled document (${JSON.stringify(bet())})`,
    });
    expect(bet().selectionNote).toMatch(/refused every shallower document \(.*toteId.*\); using the bundled document/);
    // Operations Tote did not refuse keep their introspected documents, and stream.
    expect(pool(h).selection).toBe('introspection');
    expect(pool(h).refusals).toBe(0);
    h.sim.faults.burst(2);
    await waitFor(() => h!.envelopes.some((e) => e.type === 'PoolTotalChanged'), { what: 'a pool total' });
    h.sim.emit('onBetAccepted', payloadFor(entryForRootField('onBetAccepted')!.keys, 'b1'));
    const env = await waitFor(() => h!.envelopes.find((e) => e.rootField === 'onBetAccepted'), { what: 'a bet on the bundled document' });
    expect(env.payload).not.toHaveProperty('toteId');
  });

  it('shortens the bundled document too when introspection is off and Tote limits depth', async () => {
    h = await startHarness({ sim: { introspection: false } });
    h.sim.faults.limitDepth(4);
    h.service.client.start();
    await waitFor(() => pool(h!).state === 'active' && pool(h!).selectionDepth === 4, {
      what: () => `the bundled pool-total document at depth 4 (${JSON.stringify(pool(h!))})`,
    });
    expect(pool(h).selection).toBe('bundled');
    // The bundled PoolDividendChanged document is depth 6: it must come down too.
    await waitFor(() => h!.service.client.status().operations.onPoolDividendChanged!.selectionDepth === 4, {
      what: 'dividends at depth 4',
    });
    h.sim.faults.burst(2);
    await waitFor(() => h!.envelopes.some((e) => e.type === 'PoolTotalChanged'), { what: 'a pool total' });
  });
});

describe.each([
  ['graphql-ws', 'data with errors and no data, then complete (HotChocolate)'],
  ['graphql-transport-ws', 'next with errors and no data, then complete (graphql-ws)'],
] as const)('a subscribe error over %s: %s', (protocol, _form) => {
  it('fails the operation without counting a message of its type or dead-lettering anything', async () => {
    h = await startHarness({
      env: { TOTE_PROTOCOL: protocol, TOTE_OPERATION_RETRY_MIN_MS: '60000', TOTE_OPERATION_RETRY_MAX_MS: '60000' },
    });
    h.sim.faults.refusalsAsData(true);
    h.sim.faults.failField('onPoolTotalChanged', 'Pool totals are unavailable');
    h.service.client.start();
    await waitFor(() => pool(h!).state === 'failed', { what: () => `the pool-total operation failed (${JSON.stringify(pool(h!))})` });
    const status = await json(`${h.service.url}/status`);
    expect(status.protocol).toBe(protocol);
    expect(status.operations.onPoolTotalChanged.lastError).toContain('Pool totals are unavailable');
    expect(status.operations.onPoolTotalChanged.failures).toBe(1);
    expect(status.types.PoolTotalChanged?.received ?? 0).toBe(0);
    expect(status.types.PoolTotalChanged?.deadLettered ?? 0).toBe(0);
    expect(status.totals.deadLettered).toBe(0);
    expect(h.bus.recentDeadLetters()).toHaveLength(0);
    expect(status.operations.onEventUpdated.state).toBe('active');
  });
});

describe('connection_error', () => {
  it('that is not about the key is retried with the normal backoff, not the slow auth retry', async () => {
    h = await startHarness({ env: { TOTE_PROTOCOL: 'graphql-ws' } });
    h.sim.faults.initError({ message: 'The server is starting up.', extensions: { code: 'SERVER_NOT_READY' } });
    h.service.client.start();
    const status = await waitFor(
      async () => {
        const s = await json(`${h!.service.url}/status`);
        return s.state === 'backoff' && s.lastError ? s : null;
      },
      { what: 'backoff after a connection_error' },
    );
    expect(status.lastError).toMatch(/refused the connection.*starting up/);
    // TOTE_RECONNECT_MAX_MS=400 here; the auth retry would be 45-75 s.
    expect(Date.parse(status.nextRetryAt) - Date.now()).toBeLessThanOrEqual(400);
    h.sim.faults.initError(null);
    await waitFor(() => h!.service.client.status().state === 'running', { what: 'connected once the server is ready' });
  });

  it('about the key is recognised by its code or its words, and nothing else is', () => {
    expect(isAuthFailure({ message: 'The API key is missing or not valid.', extensions: { code: 'AUTH_NOT_AUTHENTICATED' } })).toBe(true);
    expect(isAuthFailure({ message: 'Nope', extensions: { code: 'UNAUTHENTICATED' } })).toBe(true);
    expect(isAuthFailure({ message: 'Unauthorized' })).toBe(true);
    expect(isAuthFailure(['Forbidden'])).toBe(true);
    expect(isAuthFailure({ message: 'The server is starting up.', extensions: { code: 'SERVER_NOT_READY' } })).toBe(false);
    expect(isAuthFailure({ message: 'Too many connections' })).toBe(false);
    expect(isAuthFailure(null)).toBe(false);
    expect(isAuthFailure({ message: { toString: 1 } })).toBe(false);
  });
});

describe('the cause of a failed connect', () => {
  it('shows a refused connection as ECONNREFUSED, not as the close that follows it', async () => {
    const port = await freePort();
    const client = new ToteClient({
      config: loadConfig({
        TOTE_SUBSCRIPTIONS_URL: `ws://127.0.0.1:${port}/partner/connections/graphql/`,
        TOTE_API_KEY: TEST_KEY,
        TOTE_INTROSPECT: 'false',
        TOTE_RECONNECT_MIN_MS: '5000',
        TOTE_RECONNECT_MAX_MS: '5000',
      }).tote,
      log: createLogger({ component: 'test-tote-client' }),
      handlers: { onMessage: () => undefined, onBadFrame: () => undefined },
    });
    cleanups.push(() => client.stop());
    client.start();
    await waitFor(() => client.status().state === 'backoff', { what: 'backoff after the refused connect' });
    expect(client.status().lastError).toMatch(/ECONNREFUSED/);
  });
});

describe('reconnect backoff on a flapping link', () => {
  it('starts from the minimum after a connection that delivered data, and still grows when connections deliver nothing', async () => {
    h = await startHarness({ env: { TOTE_RECONNECT_MAX_MS: '60000', TOTE_LIVENESS_TIMEOUT_MS: '20000' } });
    h.service.client.start();
    const attempts = () =>
      h!.logs.filter((l) => l.includes('"tote reconnecting"')).map((l) => (JSON.parse(l) as { attempt: number }).attempt);
    for (let i = 0; i < 4; i++) {
      await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.stats().operations === 15, { what: 'connected' });
      const n = h.envelopes.length;
      h.sim.faults.burst(1);
      await waitFor(() => h!.envelopes.length > n, { what: 'data on this connection' });
      h.sim.faults.disconnectAll();
      await waitFor(() => attempts().length === i + 1, { what: `drop ${i + 1} seen` });
    }
    expect(attempts()).toEqual([1, 1, 1, 1]);
    expect(h.service.client.status().attempt).toBeLessThanOrEqual(1);
    // Connections that deliver nothing are no proof the path is healthy: those back off.
    for (let i = 0; i < 2; i++) {
      await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.stats().operations === 15, { what: 'connected' });
      h.sim.faults.disconnectAll();
      await waitFor(() => attempts().length === 5 + i, { what: `silent drop ${i + 1} seen` });
    }
    expect(attempts().slice(4)).toEqual([2, 3]);
  });
});

describe('frames the client must survive', () => {
  it('dead-letters a text frame of invalid UTF-8 with its bytes and keeps the connection', async () => {
    h = await startHarness();
    h.service.client.start();
    await waitFor(() => h!.service.client.status().state === 'running', { what: 'connected' });
    const connectionId = h.service.client.status().connectionId;
    const bytes = Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xc3, 0x28, 0x22, 0x7d]); // {"t":"<ff><c3>(" }
    h.sim.faults.sendBytes(bytes);
    const dl = await waitFor(() => h!.bus.recentDeadLetters()[0], { what: 'a dead letter' });
    expect(dl.reason).toBe('invalid-frame');
    expect(dl.detail).toMatch(/not valid UTF-8/);
    expect(Buffer.from(dl.raw, 'base64').equals(bytes)).toBe(true);
    expect((h.service.status() as any).deadLetterReasons['invalid-frame']).toBe(1);
    h.sim.faults.burst(1);
    await waitFor(() => h!.envelopes.some((e) => e.type === 'PoolTotalChanged'), { what: 'data on the same socket' });
    expect(h.service.client.status().connectionId).toBe(connectionId);
    expect(h.service.client.status().reconnects).toBe(0);
  });

  describe.each([
    ['graphql-ws', 'data'],
    ['graphql-transport-ws', 'next'],
  ] as const)('over %s', (protocol, dataType) => {
    it('hands every frame, whatever it holds, to onMessage or onBadFrame with a reason, and keeps the socket', async () => {
      // A downstream that serialises what it gets, as the subscriber does: a 10,000-deep payload overflows it.
      const { client, calls, sim } = await directClient(
        { TOTE_PROTOCOL: protocol },
        { onMessage: (entry, payload, raw) => void (JSON.stringify(payload), calls.messages.push({ entry, payload, raw })) },
      );
      client.start();
      await waitFor(() => client.status().state === 'running' && sim.stats().operations === 15, { what: 'connected' });
      const connectionId = client.status().connectionId;
      const op = client.status().operations.onPoolTotalChanged!.id!;
      const data = (inner: string) => `{"id":"${op}","type":"${dataType}","payload":{"data":{"onPoolTotalChanged":${inner}}}}`;
      const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
      const frames: [string, 'message' | DeadLetterReason][] = [
        [data(`{"productId":"p1","deep":${deep(10_000)}}`), 'invalid-frame'],
        [deep(10_000), 'invalid-frame'],
        [data(`{"productId":"p2","blob":"${'x'.repeat(2_000_000)}"}`), 'message'],
        [data('{"productId":"p3","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'), 'message'],
        ['{"__proto__":{"type":"data","id":"1"}}', 'invalid-frame'],
        [`{"id":"${op}","type":"ka","type":"${dataType}","payload":{"data":{"onPoolTotalChanged":{"productId":"p4"}}}}`, 'message'],
        [data('{"productId":12345,"isFinalized":"false"}'), 'message'],
        [data('{"productId":"p5","name":"\\ud800 lone"}'), 'message'],
        [`{"id":"${op}","type":"${dataType}","payload":null}`, 'invalid-frame'],
        [`{"id":"${op}","type":"${dataType}","payload":{"data":null}}`, 'payload-not-object'],
        [data('null'), 'payload-not-object'],
        [data('[1,2]'), 'payload-not-object'],
        [`{"id":null,"type":"${dataType}","payload":{}}`, 'invalid-frame'],
        [`{"id":{"toString":1},"type":"${dataType}","payload":{}}`, 'invalid-frame'],
        ['{"type":null}', 'invalid-frame'],
        ['{"type":{"toString":1}}', 'invalid-frame'],
        ['null', 'invalid-frame'],
        ['"text"', 'invalid-frame'],
        ['', 'invalid-json'],
        [`{"id":"never-issued","type":"${dataType}","payload":{"data":{"onPoolTotalChanged":{"productId":"p6"}}}}`, 'unknown-operation'],
        ['{"id":"never-issued","type":"complete"}', 'unknown-operation'],
      ];
      for (const [text] of frames) sim.faults.sendRaw(text);
      const outcome = () => calls.messages.length + calls.bad.length;
      await waitFor(() => outcome() >= frames.length, {
        timeoutMs: 20_000,
        what: () => `${frames.length} handled frames (have ${outcome()})`,
      });
      expect(calls.messages.map((m) => m.payload.productId)).toEqual(['p2', 'p3', 'p4', 12345, 'p5']);
      expect(calls.bad.map((b) => b.reason)).toEqual(frames.map(([, r]) => r).filter((r) => r !== 'message'));
      expect(calls.bad.every((b) => b.detail.length > 0)).toBe(true);
      expect(calls.bad[0]!.detail).toMatch(/could not be handled/);
      expect(calls.bad[0]!.raw).toContain('"productId":"p1"');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(client.status().connectionId).toBe(connectionId);
      expect(client.status().reconnects).toBe(0);
      expect(client.status().state).toBe('running');
    });
  });

  it('fails the operation on an error frame whose message is not text, without throwing out of the socket', async () => {
    const { client, calls, sim } = await directClient({
      TOTE_PROTOCOL: 'graphql-ws',
      TOTE_OPERATION_RETRY_MIN_MS: '60000',
      TOTE_OPERATION_RETRY_MAX_MS: '60000',
    });
    client.start();
    await waitFor(() => client.status().state === 'running' && sim.stats().operations === 15, { what: 'connected' });
    const op = client.status().operations.onPoolTotalChanged!.id!;
    sim.faults.sendRaw(`{"id":"${op}","type":"error","payload":{"message":{"toString":1},"extensions":{"__proto__":{"x":1}}}}`);
    await waitFor(() => client.status().operations.onPoolTotalChanged!.state === 'failed', { what: 'the operation failed' });
    expect(client.status().operations.onPoolTotalChanged!.lastError).toContain('toString');
    expect(client.status().reconnects).toBe(0);
    expect(calls.bad).toHaveLength(0);
  });
});

describe('the connect hook', () => {
  it('is called once per socket after every operation started, marking every socket after the first as a reconnect', async () => {
    const { client, calls, sim } = await directClient();
    client.start();
    await waitFor(() => calls.connected.length === 1, { what: 'the first connect' });
    expect(calls.connected[0]!.reconnect).toBe(false);
    expect(Object.values(client.status().operations).every((o) => o.state === 'active')).toBe(true);
    sim.faults.disconnectAll();
    await waitFor(() => calls.connected.length === 2, { what: 'the reconnect' });
    expect(calls.connected[1]!.reconnect).toBe(true);
    expect(calls.connected[1]!.connectionId).not.toBe(calls.connected[0]!.connectionId);
    expect(calls.connected[1]!.connectionId).toBe(client.status().connectionId);
  });
});
