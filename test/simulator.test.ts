import { afterEach, describe, expect, it } from 'vitest';
import { parse, getIntrospectionQuery, type OperationDefinitionNode, type FieldNode } from 'graphql';
import { WebSocket } from 'ws';
import { CATALOG, bundledDocument, entryForRootField } from '../src/catalog/catalog.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.js';
import { frameText } from '../src/simulator/sim-socket.js';
import { waitFor } from './helpers/ports.js';

const KEY = 'test-key-0123456789';
const LEGACY = 'graphql-ws';
const TRANSPORT = 'graphql-transport-ws';
type Frame = Record<string, any>;

/** A raw WebSocket that records every frame, ping and the close. */
class Probe {
  readonly frames: Frame[] = [];
  readonly texts: string[] = [];
  readonly times: number[] = [];
  readonly pingTimes: number[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const text = frameText(d);
      this.texts.push(text);
      this.times.push(Date.now());
      try {
        this.frames.push(JSON.parse(text) as Frame);
      } catch {
        this.frames.push({ unparsable: text });
      }
    });
    ws.on('ping', () => this.pingTimes.push(Date.now()));
    ws.on('close', (code, reason) => (this.closed = { code, reason: String(reason) }));
    ws.on('error', () => undefined);
  }

  static open(url: string, protocols: string | string[], headers: Record<string, string> = {}): Promise<Probe> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, { headers });
      const probe = new Probe(ws);
      probes.push(probe);
      ws.once('open', () => resolve(probe));
      ws.once('unexpected-response', (req, res) => {
        req.destroy();
        reject(new Error(`HTTP ${res.statusCode}`));
      });
      ws.once('error', reject);
    });
  }

  send(m: Frame | string): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  of(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  dataFor(id: string): Frame[] {
    return this.frames.filter((f) => (f.type === 'data' || f.type === 'next') && f.id === id);
  }

  until(check: (p: Probe) => unknown, what: string, timeoutMs = 10_000) {
    return waitFor(() => check(this), { what, timeoutMs });
  }

  closedWith(): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closed, { what: 'socket close' });
  }
}

let probes: Probe[] = [];
let sims: Simulator[] = [];

afterEach(async () => {
  for (const p of probes) p.ws.terminate();
  probes = [];
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
});

async function sim(opts: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const s = await startSimulator({ apiKeys: [KEY], autoplay: false, speed: 6000, ...opts });
  sims.push(s);
  return s;
}

/** Connects, authenticates as asked and waits for the ack. */
async function connect(
  s: Simulator,
  protocol: string,
  auth: { header?: string; payload?: string } = { header: `Api-Key ${KEY}`, payload: `Api-Key ${KEY}` },
) {
  const p = await Probe.open(s.wsUrl, protocol, auth.header ? { Authorization: auth.header } : {});
  p.send({ type: 'connection_init', payload: { useragent: 'simulator-test', ...(auth.payload ? { authorization: auth.payload } : {}) } });
  await p.until((x) => x.of('connection_ack').length, 'connection_ack');
  return p;
}

function start(p: Probe, id: string, query: string): void {
  p.send(p.ws.protocol === LEGACY ? { id, type: 'start', payload: { query } } : { id, type: 'subscribe', payload: { query } });
}

function startField(p: Probe, rootField: string): void {
  start(p, rootField, bundledDocument(entryForRootField(rootField)!));
}

/** Top-level field names of an entry's bundled selection. */
function selectedKeys(rootField: string): string[] {
  const op = parse(bundledDocument(entryForRootField(rootField)!)).definitions[0] as OperationDefinitionNode;
  const root = op.selectionSet.selections[0] as FieldNode;
  return root.selectionSet!.selections.map((s) => (s as FieldNode).name.value).sort();
}

describe('simulator over WebSocket', () => {
  it('delivers all 15 subscriptions with the bundled documents on both protocols, shaped by the selection', async () => {
    const s = await sim();
    const legacy = await connect(s, LEGACY);
    const transport = await connect(s, TRANSPORT);
    for (const e of CATALOG) {
      startField(legacy, e.rootField);
      startField(transport, e.rootField);
    }
    await waitFor(() => s.stats().operations === 30, { what: '30 operations' });
    s.play();
    for (const p of [legacy, transport]) {
      await p.until((x) => CATALOG.every((e) => x.dataFor(e.rootField).length > 0), `data for all 15 on ${p.ws.protocol}`, 30_000);
      for (const e of CATALOG) {
        const payload = p.dataFor(e.rootField)[0]!.payload;
        expect(payload.errors).toBeUndefined();
        expect(Object.keys(payload.data[e.rootField]).sort()).toEqual(selectedKeys(e.rootField));
      }
    }
    expect(legacy.of('error')).toEqual([]);
    expect(transport.of('error')).toEqual([]);
    const bet = legacy.dataFor('onBetRejected')[0]!.payload.data.onBetRejected;
    expect(bet.betId).toMatch(/^[0-9a-f]{32}$/);
    expect(typeof bet.reason).toBe('string');
  });

  it('rejects a bad or missing key: connection_error then close on graphql-ws, 4403 on graphql-transport-ws', async () => {
    const s = await sim();
    for (const auth of [{ header: 'Api-Key wrong', payload: 'Api-Key wrong' }, {}, { payload: `Api-Key${KEY}` }]) {
      const p = await Probe.open(s.wsUrl, LEGACY, auth.header ? { Authorization: auth.header } : {});
      p.send({ type: 'connection_init', payload: auth.payload ? { authorization: auth.payload } : {} });
      const closed = await p.closedWith();
      expect(p.frames.map((f) => f.type)).toEqual(['connection_error']);
      expect(p.frames[0]!.payload.message).toMatch(/API key/);
      expect(JSON.stringify(p.frames)).not.toContain(KEY);
      expect(closed.code).toBe(1000);
    }
    const t = await Probe.open(s.wsUrl, TRANSPORT, { Authorization: 'Bearer wrong' });
    t.send({ type: 'connection_init', payload: { authorization: 'Api-Key wrong' } });
    expect((await t.closedWith()).code).toBe(4403);
    expect(t.of('connection_ack')).toEqual([]);
  });

  it('accepts the key from the upgrade header alone or from connection_init alone, as Api-Key or Bearer', async () => {
    const s = await sim();
    const ways = [{ header: `Api-Key ${KEY}` }, { payload: `Api-Key ${KEY}` }, { header: `Bearer ${KEY}` }, { payload: `bearer ${KEY}` }];
    for (const protocol of [LEGACY, TRANSPORT]) {
      for (const auth of ways) {
        const p = await connect(s, protocol, auth);
        expect(p.closed).toBeUndefined();
      }
    }
  });

  it('fails an operation that asks for an unknown field on its own, while the others keep streaming', async () => {
    const s = await sim();
    for (const protocol of [LEGACY, TRANSPORT]) {
      const p = await connect(s, protocol);
      start(p, 'bad-root', 'subscription { onNoSuchThing { productId } }');
      start(p, 'bad-leaf', 'subscription { onPoolTotalChanged { productId renamedField } }');
      start(p, 'syntax', 'subscription { onPoolTotalChanged { ');
      startField(p, 'onPoolTotalChanged');
      await p.until((x) => x.of('error').length === 3, `3 operation errors on ${protocol}`);
      const errors = Object.fromEntries(p.of('error').map((f) => [f.id, JSON.stringify(f.payload)]));
      expect(errors['bad-root']).toMatch(/onNoSuchThing/);
      expect(errors['bad-leaf']).toMatch(/renamedField/);
      expect(errors['syntax']).toMatch(/Syntax Error/);
      // Legacy sends one error object, as HotChocolate does; graphql-transport-ws an array.
      expect(Array.isArray(p.of('error')[0]!.payload)).toBe(protocol === TRANSPORT);
      await waitFor(() => s.stats().operations === 1, { what: 'the good operation' });
      expect(s.emit('onPoolTotalChanged', { productId: 'p-1', isFinalized: false, total: { grossAmounts: [], netAmounts: [] } })).toBe(1);
      await p.until((x) => x.dataFor('onPoolTotalChanged').length === 1, 'data for the good operation');
      expect(p.closed).toBeUndefined();
      p.ws.close();
      await waitFor(() => s.stats().operations === 0, { what: 'operations gone' });
    }
  });

  it('speaks like HotChocolate: ka every kaIntervalMs, 4400 on malformed frames, close when connection_init never comes', async () => {
    const s = await sim({ kaIntervalMs: 50, initTimeoutMs: 300 });
    const p = await connect(s, LEGACY);
    expect(p.texts.slice(0, 2)).toEqual(['{"type":"connection_ack"}', '{"type":"ka"}']);
    await p.until((x) => x.of('ka').length >= 4, 'four keep-alives');
    for (const bad of ['not json', '{"id":"1","payload":{}}', '[1,2]', '{"type":"no_such_type"}']) {
      const q = await connect(s, LEGACY);
      q.send(bad);
      expect((await q.closedWith()).code).toBe(4400);
    }
    const silent = await Probe.open(s.wsUrl, LEGACY);
    const closed = await silent.closedWith();
    expect(closed).toEqual({ code: 1002, reason: 'Connection initialization timeout.' });
    const twice = await connect(s, LEGACY);
    twice.send({ type: 'connection_init', payload: {} });
    expect((await twice.closedWith()).code).toBe(1002);
    const terminate = await connect(s, LEGACY);
    terminate.send({ type: 'connection_terminate' });
    expect((await terminate.closedWith()).code).toBe(1000);
  });

  it('completes an operation on stop, and on a server-side complete on both protocols', async () => {
    const s = await sim();
    const legacy = await connect(s, LEGACY);
    startField(legacy, 'onEventStatusChanged');
    startField(legacy, 'onEventUpdated');
    const transport = await connect(s, TRANSPORT);
    startField(transport, 'onEventUpdated');
    await waitFor(() => s.stats().operations === 3, { what: '3 operations' });
    legacy.send({ id: 'onEventStatusChanged', type: 'stop' });
    await legacy.until((x) => x.of('complete').some((f) => f.id === 'onEventStatusChanged'), 'complete after stop');
    expect(s.faults.complete('onEventUpdated')).toBe(2);
    for (const p of [legacy, transport]) await p.until((x) => x.of('complete').some((f) => f.id === 'onEventUpdated'), 'server complete');
    expect(s.stats().operations).toBe(0);
    expect(s.emit('onEventUpdated', { eventId: 'e' })).toBe(0);
  });

  it("picks the subprotocol in the client's order and refuses a socket offering none it speaks", async () => {
    const s = await sim();
    expect((await Probe.open(s.wsUrl, [TRANSPORT, LEGACY])).ws.protocol).toBe(TRANSPORT);
    expect((await Probe.open(s.wsUrl, [LEGACY, TRANSPORT])).ws.protocol).toBe(LEGACY);
    await expect(Probe.open(s.wsUrl, ['graphql-sse'])).rejects.toThrow(/HTTP 400/);
    await expect(Probe.open(s.wsUrl.replace('/graphql/', '/graphql'), LEGACY)).rejects.toThrow(/HTTP 404/);
    const modernOnly = await sim({ protocols: [TRANSPORT] });
    expect((await Probe.open(modernOnly.wsUrl, [LEGACY, TRANSPORT])).ws.protocol).toBe(TRANSPORT);
  });
});

async function post(url: string, body: unknown, key: string | null = KEY) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Api-Key ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Frame };
}

describe('simulator clock', () => {
  it('rolls over to the next day when the racing is over, and keeps playing', async () => {
    const s = await sim({ startAt: '21:00', speed: 10_000, autoplay: true, date: '2026-11-21' });
    const firstDay = s.plan().races.map((r) => r.id);
    await waitFor(() => s.stats().day.index === 1, { what: 'day 1', timeoutMs: 20_000 });
    expect(s.stats().day.date).toBe('2026-11-22');
    expect(s.plan().races[0]!.id).not.toBe(firstDay[0]);
    const opened = s.stats().sent.onProductStatusChanged!;
    await waitFor(() => s.stats().sent.onProductStatusChanged! > opened, { what: 'markets opening on day 1' });
  });

  it('refuses options that cannot work, naming them', async () => {
    await expect(startSimulator({ apiKeys: [] })).rejects.toThrow(/apiKeys/);
    await expect(startSimulator({ apiKeys: [KEY], rate: 0 })).rejects.toThrow(/rate must be a positive number/);
    await expect(startSimulator({ apiKeys: [KEY], startAt: '25:00' })).rejects.toThrow(/startAt must be HH:MM/);
    await expect(startSimulator({ apiKeys: [KEY], date: '2026-02-30' })).rejects.toThrow(/date must be YYYY-MM-DD/);
  });
});

describe('simulator over HTTP', () => {
  it('answers introspection with the 15 subscription fields, and 401 without a key', async () => {
    const s = await sim();
    const { status, body } = await post(s.httpUrl, { query: getIntrospectionQuery() });
    expect(status).toBe(200);
    const types = body.data.__schema.types as { name: string; fields: { name: string }[] | null }[];
    const subscription = types.find((t) => t.name === body.data.__schema.subscriptionType.name)!;
    expect(subscription.fields!.map((f) => f.name).sort()).toEqual(CATALOG.map((e) => e.rootField).sort());
    const pool = types.find((t) => t.name === 'PoolTotalChanged')!;
    expect(pool.fields!.map((f) => f.name)).toEqual(
      expect.arrayContaining(['productId', 'isFinalized', 'total', 'carryIn', 'guarantee', 'funds']),
    );
    expect((await post(s.httpUrl, { query: '{ ping }' }, null)).status).toBe(401);
    expect((await post(s.gatewayUrl, { query: '{ events { nodes { id } } }' }, 'wrong')).status).toBe(401);
    const sdl = await fetch(s.httpUrl + '?sdl', { headers: { authorization: `Bearer ${KEY}` } });
    expect(await sdl.text()).toContain('onPoolTotalChanged: PoolTotalChanged!');
    const sub = await post(s.httpUrl, { query: bundledDocument(CATALOG[0]!) });
    expect(sub.status).toBe(400);
    expect(sub.body.errors[0].message).toMatch(/WebSocket/);
  });

  it('can refuse introspection so clients must fall back to their bundled documents', async () => {
    const s = await sim({ introspection: false });
    const { status, body } = await post(s.httpUrl, { query: getIntrospectionQuery() });
    expect(status).toBe(400);
    expect(body.errors[0].message).toMatch(/introspection/i);
    expect((await post(s.httpUrl, { query: '{ ping }' })).body).toEqual({ data: { ping: 'pong' } });
    expect((await fetch(s.httpUrl + '?sdl', { headers: { authorization: `Api-Key ${KEY}` } })).status).toBe(403);
    const p = await connect(s, LEGACY);
    start(p, 'introspect', 'subscription { __typename }');
    startField(p, 'onLinesChanged');
    await waitFor(() => s.stats().operations === 1, { what: 'the bundled operation' });
    s.emit('onLinesChanged', { productId: 'x', lines: [] });
    await p.until((x) => x.dataFor('onLinesChanged').length === 1, 'lines data');
  });
});

describe('simulator faults', () => {
  it('emit reaches every subscribed operation and remembers the last payload per key', async () => {
    const s = await sim();
    const a = await connect(s, LEGACY);
    const b = await connect(s, TRANSPORT);
    startField(a, 'onProductStatusChanged');
    startField(b, 'onProductStatusChanged');
    await waitFor(() => s.stats().operations === 2, { what: '2 operations' });
    expect(s.emit('onProductStatusChanged', { productId: 'p-9', status: 'OPEN' })).toBe(2);
    expect(s.emit('onProductStatusChanged', { productId: 'p-9', status: 'CLOSED' })).toBe(2);
    for (const p of [a, b]) await p.until((x) => x.dataFor('onProductStatusChanged').length === 2, 'two messages');
    expect(b.dataFor('onProductStatusChanged')[1]!.payload).toEqual({
      data: { onProductStatusChanged: { productId: 'p-9', status: 'CLOSED' } },
    });
    expect(s.lastSent('onProductStatusChanged', 'p-9')).toEqual({ productId: 'p-9', status: 'CLOSED' });
    expect(s.stats()).toMatchObject({ connections: 2, connectionsByProtocol: { [LEGACY]: 1, [TRANSPORT]: 1 } });
    expect(s.stats().sent.onProductStatusChanged).toBe(2);
    expect(s.stats().delivered.onProductStatusChanged).toBe(4);
    // Written counts data frames that reached a socket, on both protocols, and no protocol chatter (acks, ka, pings).
    expect(s.stats().written).toBe(4);
    expect(() => s.emit('onNoSuchThing', {})).toThrow(/unknown root field/);
  });

  it('disconnectAll ends every socket without a close frame', async () => {
    const s = await sim();
    const a = await connect(s, LEGACY);
    const b = await connect(s, TRANSPORT);
    s.faults.disconnectAll();
    expect((await a.closedWith()).code).toBe(1006);
    expect((await b.closedWith()).code).toBe(1006);
    await waitFor(() => s.connections() === 0, { what: 'no connections' });
  });

  it('silence stops data, ka and pings while the socket stays open, then they resume', async () => {
    const s = await sim({ kaIntervalMs: 40 });
    const legacy = await connect(s, LEGACY);
    const transport = await connect(s, TRANSPORT);
    startField(legacy, 'onEventStatusChanged');
    await waitFor(() => s.stats().operations === 1 && transport.pingTimes.length >= 2, { what: 'subscribed and pinged' });
    const t0 = Date.now();
    s.faults.silence(1_000);
    expect(s.emit('onEventStatusChanged', { eventId: 'e-1', status: 'STARTED' })).toBe(1);
    await legacy.until((x) => x.times.some((t) => t > t0 + 1_000), 'ka after the silence', 5_000);
    await transport.until((x) => x.pingTimes.some((t) => t > t0 + 1_000), 'pings after the silence', 5_000);
    // Keep-alives come every 40 ms, except for one long gap: the silence (less what was in flight).
    const longestGap = (times: number[]) => Math.max(...times.slice(1).map((t, i) => t - times[i]!));
    expect(longestGap(legacy.times)).toBeGreaterThan(600);
    expect(longestGap(transport.pingTimes)).toBeGreaterThan(600);
    expect(legacy.closed).toBeUndefined();
    expect(transport.closed).toBeUndefined();
    // The message published during the silence never reached the client.
    expect(legacy.dataFor('onEventStatusChanged')).toEqual([]);
    expect(s.stats().silencedDrops).toBeGreaterThan(0);
  });

  it('sendRaw puts exactly the given text on the wire', async () => {
    const s = await sim();
    const legacy = await connect(s, LEGACY);
    const transport = await connect(s, TRANSPORT);
    const raws = [
      '{not json',
      '{"id":"1","payload":{}}',
      '{"id":"no-such-op","type":"data","payload":{"data":{"onBetAccepted":{"betId":"x"}}}}',
      '{"id":"onBetAccepted","type":"data","payload":{"data":{"onBetAccepted":{}}}}',
    ];
    for (const r of raws) s.faults.sendRaw(r);
    s.faults.sendRaw('legacy only', LEGACY);
    await legacy.until((x) => x.texts.includes('legacy only'), 'raw frames');
    await transport.until((x) => x.texts.includes(raws[3]!), 'raw frames');
    expect(legacy.texts.slice(-5)).toEqual([...raws, 'legacy only']);
    expect(transport.texts.slice(-4)).toEqual(raws);
  });

  it('failField errors one field on both protocols, leaves the others alone, and clears', async () => {
    const s = await sim();
    const pool = { productId: 'p', isFinalized: false, total: { grossAmounts: [], netAmounts: [] } };
    const legacy = await connect(s, LEGACY);
    const transport = await connect(s, TRANSPORT);
    for (const p of [legacy, transport]) {
      startField(p, 'onPoolTotalChanged');
      startField(p, 'onEventStatusChanged');
    }
    await waitFor(() => s.stats().operations === 4, { what: '4 operations' });
    s.faults.failField('onPoolTotalChanged', 'Pool service unavailable');
    s.emit('onPoolTotalChanged', pool);
    s.emit('onEventStatusChanged', { eventId: 'e', status: 'SCHEDULED' });
    for (const p of [legacy, transport]) {
      await p.until((x) => x.dataFor('onPoolTotalChanged').length === 1 && x.dataFor('onEventStatusChanged').length === 1, 'one of each');
      const failed = p.dataFor('onPoolTotalChanged')[0]!.payload;
      expect(failed.data).toBeNull();
      expect(failed.errors[0].message).toBe('Pool service unavailable');
      expect(p.dataFor('onEventStatusChanged')[0]!.payload).toEqual({
        data: { onEventStatusChanged: { eventId: 'e', status: 'SCHEDULED' } },
      });
      start(p, 'again', bundledDocument(entryForRootField('onPoolTotalChanged')!));
      // graphql-ws reports a subscribe() that returns errors as next-with-errors then complete.
      const refused = (f: Frame) =>
        f.id === 'again' && (f.type === 'error' || (f.type === 'next' && f.payload.errors?.[0]?.message === 'Pool service unavailable'));
      await p.until((x) => x.frames.some(refused), 'new operation refused');
    }
    s.faults.failField('onPoolTotalChanged', null);
    s.emit('onPoolTotalChanged', pool);
    for (const p of [legacy, transport]) {
      await p.until((x) => x.dataFor('onPoolTotalChanged').length === 2, 'recovered');
      expect(p.dataFor('onPoolTotalChanged')[1]!.payload.data.onPoolTotalChanged.productId).toBe('p');
    }
  });

  it('burst sends N messages at once', async () => {
    const s = await sim();
    const p = await connect(s, LEGACY);
    startField(p, 'onPoolTotalChanged');
    await waitFor(() => s.stats().operations === 1, { what: 'subscribed' });
    expect(s.faults.burst(500)).toBe(500);
    await p.until((x) => x.dataFor('onPoolTotalChanged').length === 500, '500 messages');
    expect(s.stats().sent.onPoolTotalChanged).toBe(500);
    expect(s.stats().written).toBe(500);
  });

  it('close() ends sockets and leaves no open handles', async () => {
    const count = () => {
      const c: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) c[r] = (c[r] ?? 0) + 1;
      return c;
    };
    const before = count();
    const s = await startSimulator({ apiKeys: [KEY], speed: 3000, kaIntervalMs: 20 });
    const a = await connect(s, LEGACY);
    const b = await connect(s, TRANSPORT);
    for (const e of CATALOG) {
      startField(a, e.rootField);
      startField(b, e.rootField);
    }
    await a.until((x) => x.frames.some((f) => f.type === 'data'), 'some data');
    await Probe.open(s.wsUrl, LEGACY);
    await s.close();
    const closedAt = Date.now();
    const simAtClose = s.simNow();
    const sentAtClose = JSON.stringify(s.stats().sent);
    await Promise.all(probes.map((p) => p.closedWith()));
    await waitFor(
      () => {
        const after = count();
        return ['TCPServerWrap', 'TCPSocketWrap', 'Timeout'].every((k) => (after[k] ?? 0) <= (before[k] ?? 0));
      },
      { what: 'handles back to where they were' },
    );
    // The day has stopped: the clock stands still and nothing more is published.
    await waitFor(() => Date.now() > closedAt + 20, { what: 'time to pass' });
    expect(s.simNow()).toBe(simAtClose);
    expect(JSON.stringify(s.stats().sent)).toBe(sentAtClose);
  });
});
