import { describe, expect, it } from 'vitest';
import { CATALOG, entryForMessageType } from '../src/catalog/catalog.js';
import { makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { buildGatewaySchema } from '../src/simulator/gateway-schema.js';
import { graphql } from '../src/simulator/graphql-runtime.js';
import { STATE_EVENTS_QUERY, STATE_PRODUCTS_QUERY, type DayState, type ProductStateNode } from '../src/tote/gateway.js';
import { covers, mapDayState, type Observation } from '../src/subscriber/reconcile/mapping.js';
import { SeenState } from '../src/subscriber/reconcile/seen-state.js';
import { parseSelection, project, shapeOf } from '../src/subscriber/reconcile/shape.js';

const GBP = { code: 'GBP' };
const money = (n: number) => ({ decimalAmount: n, currency: GBP });

function product(over: Partial<NonNullable<ProductStateNode['type']>> = {}): ProductStateNode {
  return {
    id: 'p1',
    type: {
      selling: { status: 'CLOSED' },
      pool: { total: { grossAmount: money(1200), netAmount: money(888) } },
      result: {
        status: 'FINAL',
        dividends: {
          nodes: [
            {
              dividend: { name: 'WIN', type: 'POOL', status: 'FINAL', amount: money(3.4) },
              dividendLegs: {
                nodes: [
                  { id: 'leg1', dividendSelections: { nodes: [{ id: 's1', finishingPosition: '1' }], pageInfo: { hasNextPage: false } } },
                ],
                pageInfo: { hasNextPage: false },
              },
            },
          ],
          pageInfo: { hasNextPage: false },
        },
      },
      legs: { nodes: [] },
      ...over,
    },
  };
}

const state = (products: ProductStateNode[], events: DayState['events'] = []): DayState => ({
  products,
  events,
  truncated: false,
  requests: 1,
});

/** Every field path a selection allows. */
function paths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => paths(v, prefix));
  if (typeof value !== 'object' || value === null) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => paths(v, prefix ? `${prefix}.${k}` : k));
}

function live(type: string, payload: Record<string, unknown>): Envelope {
  const entry = entryForMessageType(type)!;
  const keys: Record<string, string> = {};
  for (const k of entry.keys) if (typeof payload[k.name] === 'string') keys[k.name] = payload[k.name] as string;
  return makeEnvelope(entry, payload, keys, { source: 'test', protocol: 'graphql-ws', connectionId: 'c', instanceId: 'i' });
}

describe('the gateway-to-payload mapping', () => {
  it('parses every catalog selection into a payload shape', () => {
    for (const e of CATALOG)
      expect(Object.keys(parseSelection(e.selection))).toEqual(expect.arrayContaining(e.keys.filter((k) => k.required).map((k) => k.name)));
    expect(parseSelection('a b { c d { e } } f')).toEqual({ a: null, b: { c: null, d: { e: null } }, f: null });
    expect(() => parseSelection('a { b')).toThrow(/unclosed/);
  });

  it('builds each type in its subscription shape, with no field the catalog selection lacks', () => {
    const m = mapDayState(
      state(
        [product()],
        [
          {
            id: 'e1',
            status: 'FINISHED',
            result: {
              status: 'FINAL',
              results: { nodes: [{ id: 'c1', finishingPosition: '1', status: 'FINAL' }], pageInfo: { hasNextPage: false } },
            },
            eventCompetitors: { nodes: [{ id: 'c2', entryStatus: 'WITHDRAWN' }] },
          },
        ],
      ),
    );
    const types = m.observations.map((o) => o.entry.messageType).sort();
    expect(types).toEqual([
      'CompetitorStatusChanged',
      'EventResultChanged',
      'EventStatusChanged',
      'PoolDividendChanged',
      'PoolTotalChanged',
      'ProductStatusChanged',
    ]);
    for (const o of m.observations) {
      const allowed = new Set(paths(shapeOf(o.entry)));
      for (const p of paths(o.payload)) expect(allowed, `${o.entry.messageType}.${p}`).toContain(p);
    }
    const dividend = m.observations.find((o) => o.entry.messageType === 'PoolDividendChanged')!.payload;
    expect(dividend).toEqual({
      productId: 'p1',
      dividends: [
        {
          dividend: { name: 'WIN', type: 'POOL', status: 'FINAL', amounts: [money(3.4)] },
          legs: [{ legId: 'leg1', selections: [{ id: 's1', finishingPosition: '1' }] }],
        },
      ],
    });
    const result = m.observations.find((o) => o.entry.messageType === 'EventResultChanged')!.payload;
    expect(result).toEqual({ eventId: 'e1', competitorResults: [{ competitorId: 'c1', finishingPosition: '1', status: 'FINAL' }] });
    expect(m.observations.find((o) => o.entry.messageType === 'PoolTotalChanged')!.payload).toEqual({
      productId: 'p1',
      total: { grossAmounts: [money(1200)], netAmounts: [money(888)] },
    });
  });

  it('reports the fields the gateway left out and never fills them in', () => {
    const m = mapDayState(state([product({ pool: { total: { grossAmount: money(10), netAmount: null } } })]));
    const pool = m.observations.find((o) => o.entry.messageType === 'PoolTotalChanged')!;
    expect(pool.payload).toEqual({ productId: 'p1', total: { grossAmounts: [money(10)] } });
    expect(m.missing).toMatchObject({ 'PoolTotalChanged.isFinalized': 1, 'PoolTotalChanged.total.netAmounts': 1 });
  });

  it('says nothing for a status Tote does not know yet, and does not compare a list the gateway cut', () => {
    const cut = product({ selling: { status: 'UNKNOWN' } });
    cut.type!.result!.dividends!.pageInfo = { hasNextPage: true };
    const m = mapDayState(state([cut]));
    expect(m.observations.map((o) => o.entry.messageType)).toEqual(['PoolTotalChanged']);
    expect(m.truncated).toEqual({ PoolDividendChanged: 1 });
  });

  it('treats a live payload with more fields, in another order, as the same state', () => {
    const m = mapDayState(state([product()]));
    const obs = (t: string) => m.observations.find((o) => o.entry.messageType === t)!;
    // As the simulator (and Tote) send them: a top-level status, names, the deprecated money shape.
    const seenDividend = {
      productId: 'p1',
      status: 'FINAL',
      dividends: [
        {
          dividend: { name: 'WIN', type: 'POOL', status: 'final', amounts: [{ ...money(3.4), stringAmount: '3.40' }] },
          legs: [{ legId: 'leg1', selections: [{ id: 's1', finishingPosition: '1' }] }],
        },
      ],
    };
    const shaped = (t: string, p: Record<string, unknown>) => project(p, shapeOf(entryForMessageType(t)!)).value as Record<string, unknown>;
    expect(covers(shaped('PoolDividendChanged', seenDividend), obs('PoolDividendChanged'))).toBe(true);
    const seenPool = {
      productId: 'p1',
      isFinalized: true,
      total: { netAmounts: [money(888)], grossAmounts: [money(1200)], grossAmount: { value: 1200 } },
    };
    expect(covers(shaped('PoolTotalChanged', seenPool), obs('PoolTotalChanged'))).toBe(true);
    // A different amount is a correction; a smaller total is older than the feed's, not a correction.
    expect(
      covers(
        shaped('PoolTotalChanged', { ...seenPool, total: { grossAmounts: [money(1000)], netAmounts: [money(740)] } }),
        obs('PoolTotalChanged'),
      ),
    ).toBe(false);
    expect(
      covers(
        shaped('PoolTotalChanged', { ...seenPool, total: { grossAmounts: [money(1300)], netAmounts: [money(962)] } }),
        obs('PoolTotalChanged'),
      ),
    ).toBe(true);
    // SETTLED is further along than the gateway's CLOSED; OPEN is behind it.
    expect(covers({ productId: 'p1', status: 'SETTLED' }, obs('ProductStatusChanged'))).toBe(true);
    expect(covers({ productId: 'p1', status: 'OPEN' }, obs('ProductStatusChanged'))).toBe(false);
  });

  it('takes a gateway answer behind the feed in the lifecycle as lagging, not as a correction', () => {
    const lagging = mapDayState(state([product({ selling: { status: 'OPEN' } })])).observations.find(
      (o) => o.entry.messageType === 'ProductStatusChanged',
    )!;
    expect(covers({ productId: 'p1', status: 'CLOSED' }, lagging)).toBe(true);
    const provisional = product();
    provisional.type!.result!.dividends!.nodes![0]!.dividend!.status = 'PROVISIONAL';
    const dividend = mapDayState(state([provisional])).observations.find((o) => o.entry.messageType === 'PoolDividendChanged')!;
    const finalSeen = {
      productId: 'p1',
      dividends: [{ dividend: { name: 'WIN', type: 'POOL', status: 'FINAL', amounts: [money(3.5)] }, legs: [] }],
    };
    expect(covers(finalSeen, dividend)).toBe(true);
    // A FINAL result revised to other positions is a correction.
    const revised = mapDayState(
      state(
        [],
        [
          {
            id: 'e',
            status: null,
            eventCompetitors: null,
            result: { status: 'FINAL', results: { nodes: [{ id: 'b', finishingPosition: '1', status: 'FINAL' }] } },
          },
        ],
      ),
    ).observations[0]!;
    expect(covers({ eventId: 'e', competitorResults: [{ competitorId: 'a', finishingPosition: '1', status: 'FINAL' }] }, revised)).toBe(
      false,
    );
    expect(
      covers({ eventId: 'e', competitorResults: [{ competitorId: 'b', finishingPosition: '1', status: 'PROVISIONAL' }] }, revised),
    ).toBe(false);
  });
});

describe('the last state seen', () => {
  it('keeps at most its limit, forgetting the least recently updated, and forgets everything when the day turns', () => {
    let day = '2026-11-21';
    const seen = new SeenState(3, () => day);
    for (const id of ['a', 'b', 'c', 'd']) seen.observe(live('ProductStatusChanged', { productId: id, status: 'OPEN' }));
    expect(seen.size).toBe(3);
    expect(seen.evicted).toBe(1);
    expect(seen.get('ProductStatusChanged', 'a')).toBeUndefined();
    expect(seen.get('ProductStatusChanged', 'd')!.payload).toEqual({ productId: 'd', status: 'OPEN' });
    // Types that are not reconciled are not kept.
    seen.observe(live('LinesChanged', { productId: 'x' }));
    expect(seen.size).toBe(3);
    day = '2026-11-22';
    expect(seen.get('ProductStatusChanged', 'd')).toBeUndefined();
    expect(seen.size).toBe(0);
  });

  it('keys a runner by its event and competitor ids', () => {
    const seen = new SeenState(10, () => 'd');
    seen.observe(live('CompetitorStatusChanged', { eventId: 'e', competitorId: 'c', status: 'WITHDRAWN' }));
    expect(seen.get('CompetitorStatusChanged', 'e/c')!.payload.status).toBe('WITHDRAWN');
    const obs: Observation = mapDayState(
      state([], [{ id: 'e', status: null, result: null, eventCompetitors: { nodes: [{ id: 'c', entryStatus: 'WITHDRAWN' }] } }]),
    ).observations[0]!;
    expect(obs.entityKey).toBe('e/c');
  });
});

describe("the reconciliation's queries", () => {
  const schema = buildGatewaySchema({ planFor: () => undefined, simNow: () => 0, project: (ms) => ms });
  it("validate against the simulated gateway's schema (Tote's shapes)", () => {
    expect(graphql.validate(schema, graphql.parse(STATE_PRODUCTS_QUERY)).map((e) => e.message)).toEqual([]);
    expect(graphql.validate(schema, graphql.parse(STATE_EVENTS_QUERY)).map((e) => e.message)).toEqual([]);
  });
});
