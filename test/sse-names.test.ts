import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { entryForMessageType } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import type { SseConfig } from '../src/config/sse.js';
import { extractKeys, makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import { fetchDayCard } from '../src/tote/gateway.js';
import { waitFor } from './helpers/ports.js';
import { openStream, type SseStream } from './helpers/sse-stream.js';

const KEY = 'names-test-key-7f3a91';
const logLines: string[] = [];
setLogWriter((l) => {
  logLines.push(l);
  if (logLines.length > 1000) logLines.splice(0, 500);
});
const log = createLogger({ test: 'sse-names' });

function envelope(type: string, payload: Record<string, unknown>): Envelope {
  const entry = entryForMessageType(type)!;
  const keys = extractKeys(entry, payload);
  if (!keys.ok) throw new Error('payload misses keys');
  return makeEnvelope(entry, payload, keys.keys, { source: 'test', protocol: null, connectionId: 'c', instanceId: 'i' });
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A service fed by the in-process bus, with the simulator's day card on it as
 * the subscriber publishes it (fetched with the key the subscriber holds).
 */
async function setup() {
  const sim: Simulator = await startSimulator({ apiKeys: [KEY], autoplay: false });
  cleanups.push(() => sim.close());
  const bus = new MemoryBus();
  await bus.publishDayCard(await fetchDayCard(sim.gatewayUrl, KEY));
  const config: SseConfig = { ...loadConfig({}).sse, port: 0, host: '127.0.0.1' };
  const sse: SseService = await startSseService({ config, source: bus, log });
  cleanups.push(() => sse.close());
  const status = async () => (await (await fetch(`${sse.url}/status`)).json()).names as Record<string, any>;
  return { sim, bus, sse, status };
}

describe('names from day cards on the bus', () => {
  it('serves the latest card the subscriber published and tells open pages', async () => {
    const sim = await startSimulator({ apiKeys: [KEY], autoplay: false });
    cleanups.push(() => sim.close());
    const bus = new MemoryBus();
    const config: SseConfig = { ...loadConfig({}).sse, port: 0, host: '127.0.0.1' };
    // A card already on the bus reaches a service that starts later.
    const card = await fetchDayCard(sim.gatewayUrl, KEY);
    await bus.publishDayCard(card);
    const sse = await startSseService({ config, source: bus, log });
    cleanups.push(() => sse.close());
    const first = await waitFor(async () => {
      const n = await (await fetch(`${sse.url}/names`)).json();
      return n.version >= 1 ? n : null;
    });
    const race = sim.plan().races[0]!;
    expect(first.events[race.id]).toMatchObject({ name: race.name, venue: race.venue.name });
    expect(first.error).toBeNull();
    const stream: SseStream = await openStream(`${sse.url}/events`);
    cleanups.push(() => stream.close());
    // The subscriber publishes a new card when the day changes (a non-runner, a delay).
    const renamed = { ...card, events: card.events.map((e) => (e.id === race.id ? { ...e, name: 'Renamed Stakes' } : e)) };
    await bus.publishDayCard(renamed);
    await waitFor(() => stream.named('names').length >= 1, { what: 'names event' });
    const second = await (await fetch(`${sse.url}/names`)).json();
    expect(JSON.parse(stream.named('names').at(-1)!.data).version).toBe(second.version);
    expect(second.version).toBeGreaterThan(first.version);
    expect(second.events[race.id].name).toBe('Renamed Stakes');
    // Feed messages send this service to no query API: refetching is the subscriber's.
    await bus.publish(envelope('EventUpdated', { eventId: race.id }));
    const st = (await (await fetch(`${sse.url}/status`)).json()).names;
    expect(st).toMatchObject({ origin: 'bus', cards: 2, version: second.version });
    expect(st.fetches).toBeUndefined();
  });
});

describe('what the names carry', () => {
  it("loads the day's races and products server-side and never shows the key", async () => {
    const { sim, sse, status } = await setup();
    const names = await waitFor(async () => {
      const n = await (await fetch(`${sse.url}/names`)).json();
      return n.version >= 1 ? n : null;
    });
    const plan = sim.plan();
    expect(Object.keys(names.events)).toHaveLength(plan.races.length);
    expect(Object.keys(names.products)).toHaveLength(plan.products.length);
    const race = plan.races[0]!;
    expect(names.events[race.id]).toMatchObject({ name: race.name, venue: race.venue.name });
    expect(Date.parse(names.events[race.id].scheduledStart)).toBeGreaterThan(0);
    const product = race.products[0]!;
    expect(names.products[product.id]).toMatchObject({ betType: product.betType, eventIds: [race.id] });
    // Runners by the competitor ids of CompetitorStatusChanged and EventResultChanged...
    const runners = plan.races.flatMap((r) => r.runners);
    expect(Object.keys(names.competitors)).toHaveLength(runners.length);
    for (const r of race.runners) expect(names.competitors[r.id]).toEqual({ name: r.name, number: r.clothNumber });
    // ...and each product's own selection ids (SelectionStatusChanged, dividends) tied to them.
    const legs = plan.products.flatMap((p) => p.legs);
    expect(Object.keys(names.selections)).toHaveLength(legs.reduce((n, l) => n + l.selections.length, 0));
    for (const p of race.products) p.legs[0]!.selections.forEach((sel, i) => expect(names.selections[sel]).toBe(race.runners[i]!.id));
    expect(await status()).toMatchObject({ competitors: runners.length, selections: Object.keys(names.selections).length });
    for (const path of ['/', '/app.js', '/names', '/status', '/config.json', '/snapshot', '/metrics']) {
      const body = await (await fetch(sse.url + path)).text();
      expect(body, path).not.toContain(KEY);
    }
    expect(logLines.join('\n')).not.toContain(KEY);
  });

  it('serves the card compressed to browsers that accept it, the same card as uncompressed', async () => {
    const { sse } = await setup();
    const plain = await waitFor(async () => {
      const res = await fetch(`${sse.url}/names`, { headers: { 'accept-encoding': 'identity' } });
      const n = await res.json();
      return n.version >= 1 ? { res, n } : null;
    });
    expect(plain.res.headers.get('content-encoding')).toBeNull();
    const gz = await fetch(`${sse.url}/names`, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect(gz.headers.get('cache-control')).toBe('no-store');
    expect(await gz.json()).toEqual(plain.n);
  });
});
