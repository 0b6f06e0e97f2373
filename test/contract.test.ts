import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractDrift } from '../scripts/contract.js';
import { envelopeAttributes } from '../src/bus/attributes.js';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC, type CatalogEntry } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { createLogger } from '../src/log/logger.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import type { DayCard } from '../src/day-card/day-card.js';
import { waitFor } from './helpers/ports.js';
import { openStream, type SseStream } from './helpers/sse-stream.js';

const ORIGIN = { source: 'test', protocol: 'graphql-ws' as const, connectionId: 'c1', instanceId: 'i1' };

/** A payload carrying every key its entry names, each a distinct id. */
function envelopeFor(entry: CatalogEntry, n: number): Envelope {
  const keys = Object.fromEntries(entry.keys.map((k) => [k.name, `${k.name}-${n}`]));
  return makeEnvelope(entry, { ...keys, status: 'OPEN' }, keys, ORIGIN, new Date(Date.now() + n));
}

const CARD: DayCard = {
  events: [
    {
      id: 'eventId-1',
      name: 'Maiden Stakes',
      venue: 'York',
      scheduledStart: '2026-12-01T13:30:00Z',
      status: 'SCHEDULED',
      competitors: [{ id: 'competitorId-1', name: 'Swift Reply', number: 3 }],
    },
  ],
  products: [
    {
      id: 'productId-1',
      name: 'York 13:30 Win',
      betType: 'WIN',
      eventIds: ['eventId-1'],
      status: 'OPEN',
      selections: [{ id: 'selectionId-1', competitorId: 'competitorId-1' }],
    },
  ],
  truncated: false,
};

describe('the published contract', () => {
  it('is what the catalog and the code’s types generate (run `npm run contract` after changing either)', () => {
    expect(contractDrift()).toEqual([]);
  });

  it('is a valid AsyncAPI 3.0 document with a channel and a message for every catalog entry', async () => {
    const doc = JSON.parse(readFileSync('src/sse/public/contract/asyncapi.json', 'utf8')) as Record<string, any>;
    const spec = JSON.parse(readFileSync('node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json', 'utf8')) as object;
    // The specification's own schema, as published by the AsyncAPI initiative; formats are not what it checks.
    const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(spec);
    expect(validate(doc), JSON.stringify(validate.errors?.slice(0, 5))).toBe(true);
    for (const entry of CATALOG) {
      expect(doc.channels[entry.topic]?.address).toBe(entry.topic);
      expect(doc.channels.events.messages[entry.messageType]).toBeDefined();
    }
    expect(Object.keys(doc.channels)).toEqual(expect.arrayContaining([DEAD_LETTER_TOPIC, DAY_CARD_TOPIC, 'events']));
    // Every local $ref points at something the document holds.
    const text = JSON.stringify(doc);
    for (const m of text.matchAll(/"\$ref":"#\/([^"]+)"/g)) {
      const target = m[1]!.split('/').reduce<any>((o, k) => o?.[k], doc);
      expect(target, m[1]).toBeDefined();
    }
  });

  it('lists every Pub/Sub attribute the publisher sets on each message type', () => {
    const doc = JSON.parse(readFileSync('src/sse/public/contract/asyncapi.json', 'utf8')) as Record<string, any>;
    for (const [n, entry] of CATALOG.entries()) {
      const e = { ...envelopeFor(entry, n), test: true };
      const headers = doc.components.messages[`${entry.messageType}Envelope`].headers as { properties: object; required: string[] };
      const attrs = Object.keys(envelopeAttributes(e, { session: 'c0ffee', seq: n + 1 }));
      expect(Object.keys(headers.properties)).toEqual(expect.arrayContaining(attrs));
      expect(attrs).toEqual(expect.arrayContaining(headers.required));
    }
  });
});

describe('a running SSE service and its contract', () => {
  let sse: SseService;
  let bus: MemoryBus;
  const streams: SseStream[] = [];
  const ajv = new Ajv({ strict: false, allErrors: true });
  const schemas = new Map<string, ValidateFunction>();

  /** The schema as the service serves it, compiled once. */
  async function schema(path: string): Promise<ValidateFunction> {
    let v = schemas.get(path);
    if (!v) {
      const res = await fetch(`${sse.url}/contract/schemas/${path}`);
      expect(res.status, path).toBe(200);
      v = ajv.compile((await res.json()) as object);
      schemas.set(path, v);
    }
    return v;
  }
  async function expectValid(path: string, value: unknown) {
    const v = await schema(path);
    expect(v(value), `${path}: ${JSON.stringify(v.errors?.slice(0, 3))}`).toBe(true);
  }

  beforeAll(async () => {
    bus = new MemoryBus();
    const config = { ...loadConfig({}).sse, port: 0, host: '127.0.0.1', statsLogMs: 60_000 };
    sse = await startSseService({ config, source: bus, log: createLogger({ test: 'contract' }) });
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await sse?.close();
  });

  it('serves the AsyncAPI document and the schemas it was generated with', async () => {
    const res = await fetch(`${sse.url}/contract/asyncapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/json/);
    expect(await res.text()).toBe(readFileSync('src/sse/public/contract/asyncapi.json', 'utf8'));
  });

  it('streams every message type as its event schema says, and /snapshot, /names, /status, /config.json answer as theirs say', async () => {
    const live = await openStream(`${sse.url}/events`);
    streams.push(live);
    await bus.publishDayCard(CARD);
    const sent = CATALOG.map((entry, n) => envelopeFor(entry, n));
    for (const e of sent) await bus.publish(e);
    await live.waitForEvents(sent.length);

    for (const ev of live.events.filter((x) => sent.some((e) => e.type === x.event))) {
      await expectValid(`events/${ev.event}.json`, JSON.parse(ev.data));
      await expectValid('StreamEnvelope.json', JSON.parse(ev.data));
    }
    for (const e of sent) await expectValid(`envelopes/${e.type}.json`, JSON.parse(JSON.stringify(e)));

    await waitFor(async () => ((await (await fetch(`${sse.url}/names`)).json()) as { version: number }).version > 0, { what: 'names' });
    for (const [path, name] of [
      ['/snapshot', 'SnapshotResponse'],
      ['/names', 'NamesResponse'],
      ['/status', 'SseStatus'],
      ['/config.json', 'DashboardConfig'],
    ] as const) {
      const res = await fetch(`${sse.url}${path}`);
      expect(res.status, path).toBe(200);
      await expectValid(`${name}.json`, await res.json());
    }
    await expectValid('DayCard.json', JSON.parse(JSON.stringify(CARD)));
  });

  it('a message of the wrong shape fails its schema (the schemas are not vacuous)', async () => {
    const entry = CATALOG.find((e) => e.messageType === 'PoolTotalChanged')!;
    const good = JSON.parse(JSON.stringify(envelopeFor(entry, 1))) as Record<string, any>;
    const v = await schema('envelopes/PoolTotalChanged.json');
    expect(v(good)).toBe(true);
    expect(v({ ...good, type: 'EventUpdated' })).toBe(false);
    expect(v({ ...good, keys: {} })).toBe(false);
    expect(v({ ...good, payload: 'not an object' })).toBe(false);
    const { id: _id, ...noId } = good;
    expect(v(noId)).toBe(false);
  });

  it('answers a resume from an unknown id with a resync event as its schema says', async () => {
    const s = await openStream(`${sse.url}/events?lastEventId=${encodeURIComponent('0190aaaa-0000-7000-8000-000000000000')}`);
    streams.push(s);
    await waitFor(() => s.named('resync').length > 0, { what: 'a resync event' });
    await expectValid('ResyncEvent.json', JSON.parse(s.named('resync')[0]!.data));
    const version = ((await (await fetch(`${sse.url}/names`)).json()) as { version: number }).version;
    await bus.publishDayCard({ ...CARD, events: [{ ...CARD.events[0]!, name: 'Maiden Stakes (Div II)' }] });
    await waitFor(() => s.named('names').some((e) => (JSON.parse(e.data) as { version: number }).version > version), {
      what: 'a names event',
    });
    await expectValid('NamesEvent.json', JSON.parse(s.named('names').at(-1)!.data));
  });
});
