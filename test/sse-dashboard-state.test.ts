import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { SNAPSHOT_RULES } from '../src/sse/snapshot.js';

// The dashboard's own modules, as the browser runs them (plain JS, no types).
const pub = (f: string) => pathToFileURL(`src/sse/public/${f}`).href;
const { DayState } = await import(pub('state.js'));
const { renderBoard, renderDeclared } = await import(pub('board.js'));

const TZ = 'Europe/London';
/** The rules and caps as a default server serves them in /config.json. */
const sse = loadConfig({}).sse;
const served = (caps: { maxProducts?: number; maxEvents?: number } = {}) => ({
  rules: SNAPSHOT_RULES,
  limits: {
    maxProducts: sse.snapshotMaxProducts,
    maxEvents: sse.snapshotMaxEvents,
    maxChildren: sse.snapshotMaxChildren,
    maxAgeMs: sse.snapshotMaxAgeMs,
    seenIds: sse.historyMaxEvents,
    ...caps,
  },
});
const FILTERS = { meeting: '', types: new Set(), hideDone: false, openFolds: new Set() };

let seq = 0;
/** Envelope ids are UUIDv7, ordered by time; any increasing string serves the page's newest-wins rule. */
const env = (type: string, receivedAt: string, keys: Record<string, string>, payload: Record<string, unknown>) => ({
  id: `0190-${String(++seq).padStart(6, '0')}`,
  type,
  receivedAt,
  keys,
  payload,
});

const card = (version: number, day: string, eventId: string, productId: string, venue: string) => ({
  version,
  events: { [eventId]: { name: `${venue} 14:00`, venue, scheduledStart: `${day}T14:00:00Z`, status: 'SCHEDULED' } },
  products: { [productId]: { name: 'Win', betType: 'WIN', eventIds: [eventId], status: 'OPEN' } },
  competitors: {},
  selections: {},
});

describe('dashboard state across racing days', () => {
  it("forgets yesterday's races, pools and results once the next day's card arrives, keeping today's unnamed ones", () => {
    const state = new DayState(served());
    state.setNames(card(1, '2026-03-10', 'ev-old', 'pr-old', 'Ascot'));
    const yesterday = '2026-03-10T15:05:00.000Z';
    state.loadSnapshot({
      products: {
        'pr-old': {
          pool: {
            id: '0190-000000',
            receivedAt: yesterday,
            payload: { total: { grossAmounts: [{ decimalAmount: 1234, currency: { code: 'GBP' } }] } },
          },
          selections: {},
        },
      },
      events: {},
    });
    state.apply(env('EventResultChanged', yesterday, { eventId: 'ev-old' }, { eventId: 'ev-old', competitorResults: [] }));
    state.apply(env('PoolDividendChanged', yesterday, { productId: 'pr-old' }, { productId: 'pr-old', dividends: [] }));
    // Still yesterday evening: everything stays.
    state.prune(Date.parse('2026-03-10T21:00:00Z'), TZ);
    expect([...state.events.keys()]).toEqual(['ev-old']);
    expect(renderBoard(state, FILTERS, Date.parse('2026-03-10T21:00:00Z'), TZ)).toContain('data-event="ev-old"');
    expect(state.declared.map((d: { id: string }) => d.id).sort()).toEqual(['ev-old', 'pr-old']);

    // Next morning: a message for a product no card has yet, then the new day's card.
    const morning = Date.parse('2026-03-11T07:30:00Z');
    state.apply(env('PoolTotalChanged', '2026-03-11T07:29:00.000Z', { productId: 'pr-unnamed' }, { productId: 'pr-unnamed', total: {} }));
    state.setNames(card(2, '2026-03-11', 'ev-new', 'pr-new', 'Kempton'));
    state.prune(morning, TZ);

    expect([...state.products.keys()]).toEqual(['pr-unnamed']);
    expect([...state.events.keys()]).toEqual([]);
    expect(state.declared).toEqual([]);
    const board = renderBoard(state, FILTERS, morning, TZ);
    expect(board).not.toContain('ev-old');
    expect(board).not.toContain('pr-old');
    expect(board).not.toContain('Ascot');
    expect(board).toContain('data-event="ev-new"');
    // Today's message off the card is still shown, by id, until the card names it.
    expect(board).toContain('Not on the card yet');
    expect(board).toContain('data-product="pr-unnamed"');
    expect(renderDeclared(state, TZ)).not.toContain('old');

    // A resync snapshot from a server up since yesterday brings yesterday back only until the prune that follows it.
    state.loadSnapshot({
      products: {},
      events: { 'ev-old': { result: { id: '0190-999999', receivedAt: yesterday, payload: { competitorResults: [] } }, competitors: {} } },
    });
    state.prune(morning, TZ);
    expect(renderBoard(state, FILTERS, morning, TZ)).not.toContain('ev-old');
  });

  it('forgets anything unchanged for a day even while a stale card still lists it', () => {
    const state = new DayState(served());
    state.setNames(card(1, '2026-03-10', 'ev-1', 'pr-1', 'Ascot'));
    state.apply(env('EventStatusChanged', '2026-03-10T09:00:00.000Z', { eventId: 'ev-1' }, { eventId: 'ev-1', status: 'FINISHED' }));
    state.prune(Date.parse('2026-03-10T20:00:00Z'), TZ);
    expect(state.events.size).toBe(1);
    state.prune(Date.parse('2026-03-11T04:00:00Z'), TZ);
    expect(state.events.size).toBe(0);
    // The card still names the race; only the live state went.
    expect(renderBoard(state, FILTERS, Date.parse('2026-03-11T04:00:00Z'), TZ)).toContain('data-event="ev-1"');
  });

  it('caps its maps: past the cap the entity changed longest ago is forgotten', () => {
    const state = new DayState(served({ maxProducts: 3, maxEvents: 2 }));
    const at = (minute: number) => new Date(Date.UTC(2026, 2, 11, 10, minute)).toISOString();
    const pool = (id: string, minute: number) =>
      state.apply(env('PoolTotalChanged', at(minute), { productId: id }, { productId: id, total: {} }));
    for (const [i, id] of ['p0', 'p1', 'p2'].entries()) pool(id, i);
    // p0 changes again, so p1 is now the one changed longest ago, though p0 came first.
    pool('p0', 10);
    pool('p3', 11);
    expect([...state.products.keys()].sort()).toEqual(['p0', 'p2', 'p3']);
    expect(state.poolChangedAt.has('p1')).toBe(false);
    for (let i = 0; i < 5; i++)
      state.apply(env('EventStatusChanged', at(20 + i), { eventId: `e${i}` }, { eventId: `e${i}`, status: 'STARTED' }));
    expect([...state.events.keys()].sort()).toEqual(['e3', 'e4']);
    expect(state.forgotten).toBe(1 + 3);
  });
});
