import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { loadConfig } from '../src/config/index.js';
import type { SseConfig } from '../src/config/sse.js';
import type { Envelope } from '../src/envelope/envelope.js';
import { createLogger } from '../src/log/logger.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import { FeedRequestError, ToteFeed } from '../src/sse/public/client/feed.js';
import { testEnvelope } from './helpers/envelopes.js';
import { waitFor } from './helpers/ports.js';

let clock = Date.now();
/** Strictly increasing stamps: the newest-wins rule orders by id. */
const envelope = (type: string, payload: Record<string, unknown>): Envelope => testEnvelope(type, payload, new Date(++clock));
const pool = (productId: string, gross: number) =>
  envelope('PoolTotalChanged', { productId, total: { grossAmounts: [{ decimalAmount: gross }] } });
const status = (productId: string, s: string) => envelope('ProductStatusChanged', { productId, status: s });
const race = (eventId: string, s: string) => envelope('EventStatusChanged', { eventId, status: s });
const runner = (eventId: string, competitorId: string, s: string) =>
  envelope('CompetitorStatusChanged', { eventId, competitorId, status: s });
const selection = (productId: string, selectionId: string, s: string) =>
  envelope('SelectionStatusChanged', { productId, selectionId, status: s });

const running: { sse: SseService; bus: MemoryBus }[] = [];
const feeds: ToteFeed[] = [];
afterEach(async () => {
  for (const f of feeds.splice(0)) f.close();
  for (const r of running.splice(0)) await r.sse.close();
});

async function start(env: Record<string, string> = {}, overrides: Partial<SseConfig> = {}) {
  const config: SseConfig = { ...loadConfig(env).sse, port: 0, host: '127.0.0.1', statsLogMs: 60_000, ...overrides };
  const bus = new MemoryBus();
  const sse = await startSseService({ config, source: bus, log: createLogger({ test: 'sse-client' }) });
  running.push({ sse, bus });
  const publish = async (...es: Envelope[]) => {
    for (const e of es) await bus.publish(e);
  };
  return { sse, bus, publish };
}

function feed(o: ConstructorParameters<typeof ToteFeed>[0]) {
  const f = new ToteFeed(o);
  feeds.push(f);
  return f;
}

/** The store's picture as /snapshot draws it: aspect ids per product and race. */
function picture(f: ToteFeed) {
  const out: Record<string, Record<string, string>> = {};
  for (const [kind, map] of [
    ['product', f.store!.products],
    ['event', f.store!.events],
  ] as const) {
    for (const [id, e] of map) {
      const row: Record<string, string> = {};
      for (const [k, v] of Object.entries(e)) {
        if (k === 'lastAt') continue;
        if (k === 'selections' || k === 'competitors') {
          for (const [cid, a] of Object.entries(v as Record<string, { id: string }>)) row[`${k}:${cid}`] = a.id;
        } else row[k] = (v as { id: string }).id;
      }
      out[`${kind}:${id}`] = row;
    }
  }
  return out;
}
async function serverPicture(url: string) {
  const snap = (await (await fetch(`${url}/snapshot`)).json()) as Record<string, Record<string, Record<string, any>>>;
  const out: Record<string, Record<string, string>> = {};
  for (const kind of ['product', 'event'] as const) {
    for (const [id, e] of Object.entries(snap[kind === 'product' ? 'products' : 'events']!)) {
      const row: Record<string, string> = {};
      for (const [k, v] of Object.entries(e)) {
        if (k === 'selections' || k === 'competitors') {
          for (const [cid, a] of Object.entries(v as Record<string, { id: string }>)) row[`${k}:${cid}`] = a.id;
        } else row[k] = (v as { id: string }).id;
      }
      out[`${kind}:${id}`] = row;
    }
  }
  return out;
}

describe('the typed client (Node, against a real SSE service)', () => {
  it('starts from /snapshot, streams on, and holds exactly what the server’s snapshot holds', async () => {
    const { sse, publish } = await start();
    await publish(status('p1', 'OPEN'), pool('p1', 100), race('e1', 'SCHEDULED'), runner('e1', 'c1', 'RUNNER'));
    const seen: string[] = [];
    const f = feed({ baseUrl: sse.url, onMessage: (e) => seen.push(e.id) });
    await f.start();
    await waitFor(() => f.state === 'open', { what: 'the stream to open' });
    const live = [
      pool('p1', 250),
      selection('p1', 's1', 'VALID'),
      status('p2', 'OPEN'),
      race('e1', 'STARTED'),
      runner('e1', 'c2', 'WITHDRAWN'),
    ];
    await publish(...live);
    await waitFor(() => seen.length >= live.length, { what: () => `${live.length} messages (have ${seen.length})` });
    expect(seen).toEqual(live.map((e) => e.id));
    expect(picture(f)).toEqual(await serverPicture(sse.url));
    // The caps and rules came from the server, not from the client's own code.
    expect(f.store!.limits).toMatchObject({ maxProducts: 5000, maxEvents: 2000, seenIds: 20000 });
  });

  it('takes the caps from the server: a service that keeps 2 products makes the client keep 2', async () => {
    const { sse, publish } = await start({ SSE_SNAPSHOT_MAX_PRODUCTS: '2' });
    const f = feed({ baseUrl: sse.url });
    await f.start();
    await waitFor(() => f.state === 'open', { what: 'the stream to open' });
    await publish(pool('a', 1), pool('b', 2), pool('c', 3));
    await waitFor(() => f.store!.received >= 3, { what: 'three messages' });
    expect([...f.store!.products.keys()]).toEqual(['b', 'c']);
    expect(f.store!.forgotten).toBe(1);
  });

  it('resumes after every stream cut without losing or repeating a message', async () => {
    const { sse, publish } = await start();
    const seen: string[] = [];
    const f = feed({ baseUrl: sse.url, onMessage: (e) => seen.push(e.id) });
    await f.start();
    const sent: Envelope[] = [];
    for (let round = 0; round < 4; round++) {
      await waitFor(() => f.state === 'open', { what: 'the stream to open' });
      const batch = [pool(`p${round}`, round), status(`p${round}`, 'OPEN')];
      sent.push(...batch);
      await publish(batch[0]!);
      sse.endStreams();
      // Published while the client is between streams: it must come in the replay.
      await publish(batch[1]!);
      await waitFor(() => seen.length >= sent.length, { what: () => `${sent.length} messages (have ${seen.length})` });
    }
    expect(seen).toEqual(sent.map((e) => e.id));
    expect(f.connects).toBeGreaterThanOrEqual(5);
    expect(f.store!.duplicates).toBe(0);
  });

  it('on resync reloads /snapshot and merges it, keeping what it already held', async () => {
    const { sse, publish } = await start({ SSE_HISTORY_MAX_EVENTS: '3' });
    await publish(pool('early', 1));
    // Hold the first /events until more has happened than the history keeps: the snapshot's id is then
    // too old to resume from, and the server answers `resync`.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let streams = 0;
    const f = feed({
      baseUrl: sse.url,
      fetch: async (input, init) => {
        if ((input instanceof Request ? input.url : input.toString()).includes('/events') && streams++ === 0) await held;
        return fetch(input, init);
      },
    });
    await f.start();
    expect(f.store!.products.has('early')).toBe(true);
    await publish(pool('m1', 1), pool('m2', 2), pool('m3', 3), pool('m4', 4));
    release();
    await waitFor(() => f.resyncs > 0 && f.store!.products.has('m4'), { what: 'a resync and the merged snapshot' });
    expect(f.store!.products.has('early')).toBe(true);
    expect(picture(f)).toEqual(await serverPicture(sse.url));
  });

  it('stops with a clear error, instead of retrying for ever, when the server refuses the request', async () => {
    const { sse } = await start();
    const states: [string, string | undefined][] = [];
    const f = feed({ baseUrl: sse.url, types: ['NoSuchType'], onState: (s, d) => states.push([s, d.error]) });
    await f.start();
    await waitFor(() => f.state === 'closed', { what: 'the feed to stop' });
    const [, error] = states.at(-1)!;
    expect(error).toMatch(/HTTP 400/);
    expect(error).toMatch(/NoSuchType/);
    expect(FeedRequestError).toBeDefined();
  });

  it('filters on the server: only the message types and ids asked for arrive', async () => {
    const { sse, publish } = await start();
    const seen: Envelope[] = [];
    const f = feed({ baseUrl: sse.url, types: ['PoolTotalChanged'], productIds: ['wanted'], onMessage: (e) => seen.push(e as Envelope) });
    await f.start();
    await waitFor(() => f.state === 'open', { what: 'the stream to open' });
    await publish(pool('other', 1), status('wanted', 'OPEN'), pool('wanted', 2));
    await waitFor(() => seen.length >= 1, { what: 'the wanted message' });
    await publish(pool('wanted', 3));
    await waitFor(() => seen.length >= 2, { what: 'the second wanted message' });
    expect(seen.map((e) => [e.type, e.keys.productId])).toEqual([
      ['PoolTotalChanged', 'wanted'],
      ['PoolTotalChanged', 'wanted'],
    ]);
  });
});
