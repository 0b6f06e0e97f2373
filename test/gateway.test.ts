import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { planDay } from '../src/simulator/day-plan.js';
import { buildGatewaySchema, MAX_EVENT_WINDOW_DAYS } from '../src/simulator/gateway-schema.js';
import { graphql } from '../src/simulator/graphql-runtime.js';
import { addDays } from '../src/simulator/london-time.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.js';
import { DAY_CARD_EVENTS_QUERY, DAY_CARD_PRODUCTS_QUERY, GatewayError, fetchDayCard } from '../src/tote/gateway.js';
import { freePort, waitFor } from './helpers/ports.js';

const KEY = 'gateway-test-key-7f3a9c';
let sims: Simulator[] = [];
let servers: Server[] = [];

afterEach(async () => {
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  servers = [];
});

async function sim(opts: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const s = await startSimulator({ apiKeys: [KEY], autoplay: false, seed: 99, date: '2026-11-21', ...opts });
  sims.push(s);
  return s;
}

/** One POST to the simulated gateway, as Tote's partners send it. */
async function query(url: string, text: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Api-Key ${KEY}` },
    body: JSON.stringify({ query: text, variables }),
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: { message: string }[] } };
}

async function failure(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}

describe('gateway client (fetchDayCard)', () => {
  it('pages through the whole day card: every race and product, placepots with all their legs', async () => {
    const s = await sim();
    const plan = s.plan();
    const card = await fetchDayCard(s.gatewayUrl, KEY, undefined, { pageSize: 7, maxPages: 40 });
    expect(card.truncated).toBe(false);
    expect(card.events.map((e) => e.id)).toEqual(plan.races.map((r) => r.id));
    expect(card.products.map((p) => p.id)).toEqual(plan.products.map((p) => p.id));
    const first = card.events[0]!;
    expect(first).toMatchObject({ name: plan.races[0]!.name, venue: plan.races[0]!.venue.name, status: 'SCHEDULED' });
    const eventIds = new Set(card.events.map((e) => e.id));
    const placepots = card.products.filter((p) => p.betType === 'PLACEPOT');
    expect(placepots).toHaveLength(plan.meetings.length);
    for (const p of placepots) {
      expect(p.eventIds.length).toBeGreaterThan(1);
      for (const id of p.eventIds) expect(eventIds.has(id)).toBe(true);
    }
    const win = card.products.find((p) => p.betType === 'WIN')!;
    expect(win.name).toMatch(/^[A-Z ]+ \d\d:\d\d - WIN$/);
    expect(win.status).toBe('UNKNOWN');
  });

  it('names every runner with its cloth number, and ties each product selection to its runner', async () => {
    const s = await sim();
    const plan = s.plan();
    const card = await fetchDayCard(s.gatewayUrl, KEY, undefined, { pageSize: 20 });
    expect(card.truncated).toBe(false);
    for (const [i, race] of plan.races.entries()) {
      expect(card.events[i]!.competitors).toEqual(race.runners.map((r) => ({ id: r.id, name: r.name, number: r.clothNumber })));
    }
    expect(card.events[0]!.competitors.length).toBeGreaterThanOrEqual(6);
    for (const [i, product] of plan.products.entries()) {
      const expected = product.legs.flatMap((leg) =>
        leg.selections.map((id, runner) => ({ id, competitorId: plan.races[leg.raceOrder]!.runners[runner]!.id })),
      );
      expect(card.products[i]!.selections).toEqual(expected);
    }
    // A product's selections are its own: the same runner has a different selection id in each product.
    const [win, place] = plan.races[0]!.products;
    expect(card.products.find((p) => p.id === win!.id)!.selections[0]!.id).not.toBe(
      card.products.find((p) => p.id === place!.id)!.selections[0]!.id,
    );
  });

  it("matches the feed's ids: the non-runner, its withdrawn selections, the result and the dividend's selections", async () => {
    const s = await sim({ speed: 5_000, autoplay: true });
    const race = s.plan().races[0]!;
    const winId = race.products.find((p) => p.betType === 'WIN')!.id;
    // The day's first race always has a non-runner; its provisional dividends come about 70 simulated minutes in.
    const dividend = await waitFor(() => s.lastSent('onPoolDividendChanged', winId), {
      what: 'first WIN dividend',
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    const card = await fetchDayCard(s.gatewayUrl, KEY);
    const event = card.events.find((e) => e.id === race.id)!;
    const competitorIds = new Set(event.competitors.map((c) => c.id));
    const runnerOfSelection = new Map(card.products.flatMap((p) => p.selections.map((x) => [x.id, x.competitorId] as const)));

    const withdrawn = event.competitors.filter((c) => s.lastSent('onCompetitorStatusChanged', c.id)?.status === 'WITHDRAWN');
    expect(withdrawn.length).toBeGreaterThanOrEqual(1);
    for (const c of withdrawn) expect(s.lastSent('onCompetitorStatusChanged', c.id)).toMatchObject({ eventId: race.id });
    const notAvailable = card.products
      .filter((p) => p.eventIds.includes(race.id))
      .flatMap((p) => p.selections.filter((x) => s.lastSent('onSelectionStatusChanged', x.id)?.status === 'NOT_AVAILABLE'));
    // Every product on the race (four, plus the placepot leg) withdrew the same runner.
    expect(notAvailable.length).toBeGreaterThanOrEqual(5);
    for (const x of notAvailable) expect(withdrawn.map((c) => c.id)).toContain(x.competitorId);

    const result = s.lastSent('onEventResultChanged', race.id) as {
      competitorResults: { competitorId: string; finishingPosition: string }[];
    };
    expect(result.competitorResults.length).toBe(event.competitors.length - withdrawn.length);
    for (const r of result.competitorResults) expect(competitorIds.has(r.competitorId)).toBe(true);
    const winner = result.competitorResults.find((r) => r.finishingPosition === '1')!.competitorId;
    const line = (dividend as { dividends: { legs: { selections: { id: string }[] }[] }[] }).dividends[0]!;
    expect(runnerOfSelection.get(line.legs[0]!.selections[0]!.id)).toBe(winner);
  });

  it("gives start times on the real clock at the simulator's speed, and statuses that follow the simulated day", async () => {
    const s = await sim({ speed: 60 });
    const race = s.plan().races[0]!;
    const card = await fetchDayCard(s.gatewayUrl, KEY);
    const expected = Date.now() + (race.scheduledAt - s.simNow()) / 60;
    expect(Math.abs(Date.parse(card.events[0]!.scheduledStart) - expected)).toBeLessThan(2_000);
    // About a minute of real time to the first off at 60x, though the race is an hour away in the day.
    expect(Date.parse(card.events[0]!.scheduledStart) - Date.now()).toBeLessThan(2 * 60_000);

    const fast = await sim({ speed: 5_000, autoplay: true });
    const firstId = fast.plan().races[0]!.id;
    const settled = await waitFor(
      async () => {
        const c = await fetchDayCard(fast.gatewayUrl, KEY);
        const ev = c.events.find((e) => e.id === firstId)!;
        const products = c.products.filter((p) => p.eventIds.length === 1 && p.eventIds[0] === firstId);
        return ev.status === 'FINISHED' && products.every((p) => p.status === 'CLOSED') ? c : undefined;
      },
      { what: 'first race finished', timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(settled.products.some((p) => p.status === 'OPEN')).toBe(true);
  });

  it("names only the events the day's products run on, though the events window reaches into other days", async () => {
    // At 10,000x the client's ten-second margin is over a simulated day either side.
    const s = await sim({ speed: 10_000 });
    const card = await fetchDayCard(s.gatewayUrl, KEY);
    expect(card.truncated).toBe(false);
    expect(card.events.map((e) => e.id)).toEqual(s.plan().races.map((r) => r.id));
  });

  it("reads another date's card", async () => {
    const s = await sim();
    const tomorrow = addDays('2026-11-21', 1);
    const card = await fetchDayCard(s.gatewayUrl, KEY, tomorrow);
    expect(card.events.map((e) => e.id)).toEqual(planDay(99, 1, tomorrow).races.map((r) => r.id));
    expect(card.events[0]!.id).not.toBe(s.plan().races[0]!.id);
  });

  it('stops after maxPages and says the card is truncated, naming the events of the products it has', async () => {
    const s = await sim();
    const card = await fetchDayCard(s.gatewayUrl, KEY, undefined, { pageSize: 5, maxPages: 2 });
    expect(card.truncated).toBe(true);
    expect(card.products.map((p) => p.id)).toEqual(
      s
        .plan()
        .products.slice(0, 10)
        .map((p) => p.id),
    );
    const raced = [...new Set(card.products.flatMap((p) => p.eventIds))];
    expect(raced.length).toBeGreaterThanOrEqual(2);
    expect(card.events.map((e) => e.id)).toEqual(
      s
        .plan()
        .races.filter((r) => raced.includes(r.id))
        .map((r) => r.id),
    );
  });

  it('caps runners per event and selections per product, and says the card is truncated', async () => {
    const s = await sim();
    const card = await fetchDayCard(s.gatewayUrl, KEY, undefined, { maxCompetitorsPerEvent: 3, maxSelectionsPerProduct: 5 });
    expect(card.truncated).toBe(true);
    expect(card.events.map((e) => e.competitors.length)).toEqual(card.events.map(() => 3));
    expect(Math.max(...card.products.map((p) => p.selections.length))).toBe(5);
    expect(card.events.map((e) => e.id)).toEqual(s.plan().races.map((r) => r.id));
  });

  it('refuses a bad key with an auth error that never contains the key', async () => {
    const s = await sim();
    const wrong = 'wrong-key-should-not-leak-123';
    const err = await failure(fetchDayCard(s.gatewayUrl, wrong));
    expect(err).toMatchObject({ kind: 'auth', status: 401, endpoint: s.gatewayUrl });
    for (const text of [err.message, String(err), err.stack ?? '', JSON.stringify(err)]) expect(text).not.toContain(wrong);
  });

  it('reports a GraphQL error from the gateway, such as a malformed date', async () => {
    const s = await sim();
    const err = await failure(fetchDayCard(s.gatewayUrl, KEY, '21/11/2026'));
    expect(err.kind).toBe('graphql');
    expect(err.message).toMatch(/Date must be YYYY-MM-DD/);
  });

  it('times out a gateway that never answers, and reports one that is not there', async () => {
    const hang = createServer(() => undefined);
    servers.push(hang);
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const port = (hang.address() as { port: number }).port;
    const slow = await failure(fetchDayCard(`http://127.0.0.1:${port}/partner/gateway/graphql`, KEY, undefined, { timeoutMs: 200 }));
    expect(slow.kind).toBe('timeout');
    expect(slow.message).not.toContain(KEY);
    const gone = await failure(fetchDayCard(`http://127.0.0.1:${await freePort()}/partner/gateway/graphql`, KEY));
    expect(gone.kind).toBe('network');
    const controller = new AbortController();
    controller.abort();
    expect((await failure(fetchDayCard(`http://127.0.0.1:${port}/x`, KEY, undefined, { signal: controller.signal }))).kind).toBe('aborted');
  });
});

describe("the simulated gateway's schema (a subset of Tote's)", () => {
  // Validation needs no data: a card source with no days.
  const schema = buildGatewaySchema({ planFor: () => undefined, simNow: () => 0, project: (ms) => ms });
  const errorsOf = (text: string) => graphql.validate(schema, graphql.parse(text)).map((e) => e.message);

  it('accepts the exact queries the gateway client sends', () => {
    expect(errorsOf(DAY_CARD_PRODUCTS_QUERY)).toEqual([]);
    expect(errorsOf(DAY_CARD_EVENTS_QUERY)).toEqual([]);
  });

  it("refuses shapes Tote's gateway does not have", () => {
    // Product fields are behind `type { ... on BettingProduct }`; legs and selections are connections.
    expect(errorsOf('{ products { nodes { id type { code } } } }')).toEqual([
      expect.stringMatching(/Cannot query field "code" on type "ProductType"/),
    ]);
    expect(errorsOf('{ products { nodes { id legs { event { id } } } } }')).toEqual([
      expect.stringMatching(/Cannot query field "legs" on type "Product"/),
    ]);
    expect(errorsOf('{ products { nodes { ... on BettingProduct { legs { event { id } } } } } }')).toEqual([
      expect.stringMatching(/Cannot query field "event" on type "LegsConnection"/),
    ]);
    // Events take instants, not a date; products take a Date, not a String; connections have no totalCount.
    expect(errorsOf('query ($date: String) { events(date: $date) { nodes { id } } }')).toEqual([
      expect.stringMatching(/Unknown argument "date"/),
    ]);
    expect(errorsOf('query ($date: String) { products(date: $date) { nodes { id } } }')).toEqual([
      expect.stringMatching(/"\$date" of type "String" used in position expecting type "Date"/),
    ]);
    expect(errorsOf('{ events { totalCount } }')).toEqual([expect.stringMatching(/Cannot query field "totalCount"/)]);
  });

  it('serves the events starting between since and until, and refuses a malformed or too wide window', async () => {
    // At 1x a minute of real time is a simulated minute, and starts are five minutes apart at least.
    const s = await sim({ speed: 1 });
    const card = await fetchDayCard(s.gatewayUrl, KEY);
    const starts = card.events.map((e) => Date.parse(e.scheduledStart));
    // A minute of slack either side: a paused clock's projected starts move on with real time.
    const since = new Date(starts[2]! - 60_000).toISOString();
    const until = new Date(starts[6]! + 60_000).toISOString();
    const text = 'query ($since: DateTime, $until: DateTime) { events(since: $since, until: $until, first: 250) { nodes { id } } }';
    const inside = await query(s.gatewayUrl, text, { since, until });
    const expected = card.events.filter((_, i) => starts[i]! >= starts[2]! && starts[i]! <= starts[6]!).map((e) => e.id);
    expect(inside.body.data.events.nodes.map((e: { id: string }) => e.id)).toEqual(expected);

    const malformed = await query(s.gatewayUrl, text, { since: '2026-11-21 13:40', until });
    expect(malformed.body.errors![0]!.message).toMatch(/DateTime must be an ISO-8601 date and time with an offset/);
    const wide = await query(s.gatewayUrl, text, { since, until: new Date(starts[0]! + 30 * 86_400_000).toISOString() });
    expect(wide.body.errors![0]!.message).toMatch(new RegExp(`at most ${MAX_EVENT_WINDOW_DAYS}`));
  });
});
