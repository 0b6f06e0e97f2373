import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import type { DayCard } from '../src/day-card/day-card.js';
import { waitFor } from './helpers/ports.js';
import { startHarness, TEST_KEY, type Harness } from './helpers/subscriber-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('day card relay (names for the dashboard)', () => {
  it('fetches the card from the query API while the feed runs and publishes it on the bus, without the key', async () => {
    const bus = new MemoryBus();
    const cards: DayCard[] = [];
    bus.subscribeDayCards((c) => cards.push(c));
    h = await startHarness({
      publisher: bus,
      sim: { autoplay: true, speed: 600 },
      graphqlUrl: 'sim',
      env: { TOTE_DAY_CARD_MIN_GAP_MS: '200' },
    });
    // Stopped: no card yet, however long we wait for one tick.
    await new Promise((r) => setTimeout(r, 1_200));
    expect(cards).toHaveLength(0);

    h.service.client.start();
    const card = await waitFor(() => cards[0], { timeoutMs: 15_000, what: 'a day card' });
    const plan = h.sim.plan();
    expect(card.events.length).toBeGreaterThan(10);
    expect(card.products.length).toBeGreaterThan(card.events.length);
    const race = plan.meetings[0]!.races[0]!;
    expect(card.events.find((e) => e.id === race.id)?.name).toBe(race.name);
    expect(JSON.stringify(card)).not.toContain(TEST_KEY);

    // EventUpdated asks for a fresh card (after the minimum gap), not one per message.
    const before = cards.length;
    await waitFor(() => h!.service.status().types.EventUpdated!.received > 0, { timeoutMs: 30_000, what: 'an EventUpdated' });
    await waitFor(() => cards.length > before, { what: 'a refetch after EventUpdated' });
    const status = h.service.status().dayCard!;
    expect(status.failures).toBe(0);
    expect(status.published).toBe(cards.length);
    expect(status.fetches).toBeLessThan(h.service.status().types.EventUpdated!.received + 2);
    expect(h.logs.join('\n')).not.toContain(TEST_KEY);
  });

  it('keeps the feed running and reports the error when the query API fails', async () => {
    const bus = new MemoryBus();
    h = await startHarness({
      publisher: bus,
      sim: { autoplay: false },
      graphqlUrl: 'http://127.0.0.1:9/partner/gateway/graphql',
      env: { TOTE_DAY_CARD_MIN_GAP_MS: '200' },
    });
    h.service.client.start();
    await waitFor(() => (h!.service.status().dayCard?.failures ?? 0) >= 1, { timeoutMs: 15_000, what: 'a refused fetch' });
    const status = h.service.status();
    expect(status.dayCard!.lastError).toBeTruthy();
    expect(JSON.stringify(status)).not.toContain(TEST_KEY);
    expect(h.service.client.status().state).toBe('running');
  });
});

describe('day card refetch on unknown ids', () => {
  it('asks once for a fresh card per product id the card does not know, not on every message about it', async () => {
    const bus = new MemoryBus();
    h = await startHarness({ publisher: bus, sim: { autoplay: false }, graphqlUrl: 'sim', env: { TOTE_DAY_CARD_MIN_GAP_MS: '100' } });
    h.service.client.start();
    await waitFor(() => h!.sim.stats().operations === 15 && h!.service.status().dayCard!.published === 1, { what: 'the first card' });
    const unknown = {
      productId: 'not-on-the-card',
      isFinalized: false,
      total: { grossAmounts: [], netAmounts: [] },
      carryIn: { grossAmounts: [], netAmounts: [] },
      funds: [],
    };
    h.sim.emit('onPoolTotalChanged', unknown);
    await waitFor(() => h!.service.status().dayCard!.fetches === 2, { what: 'a refetch for the unknown product' });
    for (let i = 0; i < 5; i++) h.sim.emit('onPoolTotalChanged', unknown);
    await waitFor(() => h!.service.status().types.PoolTotalChanged!.received === 6, { what: 'the repeats to arrive' });
    await new Promise((r) => setTimeout(r, 400)); // several minimum gaps: a repeat would have asked by now
    expect(h.service.status().dayCard!.fetches).toBe(2);
  });
});
