/**
 * The executable query gateway: the day's card (events and products) read
 * from the day plans, with statuses as of the simulated now and start times
 * projected to real wall-clock time. The schema is GATEWAY_SDL, a subset of
 * Tote's; where the simulator's answers differ from Tote's it says so there.
 */
import type { GraphQLScalarType, GraphQLSchema, ValueNode } from 'graphql';
import { graphql } from './graphql-runtime.js';
import type { DayPlan, ProductPlan, RacePlan } from './day-plan.js';
import { GATEWAY_SDL } from './gateway-sdl.js';
import type { GatewayState } from './gateway-state.js';
import type { Payload } from './payloads.js';
import { defineScalar } from './subscription-schema.js';
import { DAY_MS, daysBetween, isIsoDate, londonDate, addDays } from './london-time.js';
import { entryStatusAt, eventStatusAt, sellingStatusAt } from './race-status.js';

const { GraphQLError, Kind, buildSchema } = graphql;

/** Tote's documented page size limit. */
export const MAX_PAGE_SIZE = 250;
const DEFAULT_PAGE_SIZE = 50;
/**
 * The widest since..until served, in simulated days: each day is planned on
 * demand (a few milliseconds each) and only a handful are cached. Wider
 * windows are refused with an error naming the limit.
 */
export const MAX_EVENT_WINDOW_DAYS = 7;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

export interface CardSource {
  /** The plan of `date` (YYYY-MM-DD), or of the current simulated day; undefined when out of range. */
  planFor(date: string | undefined): DayPlan | undefined;
  simNow(): number;
  /** Simulated epoch ms -> the real epoch ms at which it will happen. */
  project(simMs: number): number;
  /** What has been announced; statuses it holds win over the plan's. */
  state?: GatewayState;
}

const EVENT_STATUSES = new Set(['UNKNOWN', 'SCHEDULED', 'STARTED', 'FINISHED', 'CANCELLED', 'DELAYED']);
const ENTRY_STATUSES = new Set(['UNKNOWN', 'PROVISIONAL', 'CONFIRMED', 'WITHDRAWN']);
const FINAL_OR_PROVISIONAL = (s: string | undefined) => (s === 'FINAL' ? 'FINAL' : 'PROVISIONAL');
/** ISO 4217 numbers; Tote's Currency.number is non-null. */
const CURRENCY_NUMBERS: Record<string, number> = { GBP: 826, EUR: 978, HKD: 344 };

/** A subscription Money as the gateway's Money (whose currency carries its ISO number). */
function gatewayMoney(m: Payload | undefined): Payload | null {
  if (!m) return null;
  const c = (m.currency ?? {}) as Payload;
  const code = typeof c.code === 'string' ? c.code : 'GBP';
  return { ...m, currency: { code, name: c.name ?? null, symbol: c.symbol ?? null, number: CURRENCY_NUMBERS[code] ?? 0 } };
}

export function encodeCursor(index: number): string {
  return Buffer.from(String(index)).toString('base64');
}

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64').toString('utf8');
  if (!/^\d+$/.test(text) || encodeCursor(Number(text)) !== cursor) throw new GraphQLError(`The cursor "${cursor}" is not valid.`);
  return Number(text);
}

interface PageArgs {
  first?: number | null;
  after?: string | null;
}

function page<T, N>(items: readonly T[], args: PageArgs, node: (item: T) => N) {
  const first = args.first ?? DEFAULT_PAGE_SIZE;
  if (first < 1 || first > MAX_PAGE_SIZE) throw new GraphQLError(`first must be between 1 and ${MAX_PAGE_SIZE}, got ${first}.`);
  const start = args.after ? decodeCursor(args.after) + 1 : 0;
  const end = Math.min(items.length, start + first);
  const slice = items.slice(start, end);
  return {
    nodes: slice.map(node),
    pageInfo: {
      hasNextPage: end < items.length,
      hasPreviousPage: start > 0,
      startCursor: slice.length ? encodeCursor(start) : null,
      endCursor: slice.length ? encodeCursor(end - 1) : null,
    },
  };
}

/** Gives a scalar of the SDL its input parsing; a GraphQLError thrown here reaches the caller as the variable's or argument's error. */
function parseScalar(type: GraphQLScalarType, parse: (value: unknown) => unknown): void {
  type.parseValue = parse;
  type.parseLiteral = (node: ValueNode) => parse(node.kind === Kind.STRING ? node.value : undefined);
}

function parseDate(value: unknown): string {
  if (typeof value === 'string' && isIsoDate(value)) return value;
  throw new GraphQLError(`Date must be YYYY-MM-DD, got ${JSON.stringify(value)}.`);
}

/** A DateTime argument reaches resolvers as epoch milliseconds. */
function parseDateTime(value: unknown): number {
  const ms = typeof value === 'string' && ISO_DATE_TIME.test(value) ? Date.parse(value) : NaN;
  if (Number.isFinite(ms)) return ms;
  throw new GraphQLError(
    `DateTime must be an ISO-8601 date and time with an offset, such as 2026-11-21T13:40:00Z, got ${JSON.stringify(value)}.`,
  );
}

interface EventArgs extends PageArgs {
  since?: number | null;
  until?: number | null;
}

export function buildGatewaySchema(source: CardSource): GraphQLSchema {
  const schema = buildSchema(GATEWAY_SDL);
  defineScalar(schema, 'Decimal', (v) => {
    const n = typeof v === 'string' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new GraphQLError(`Decimal cannot represent ${String(v)}`);
    return n;
  });
  parseScalar(schema.getType('Date') as GraphQLScalarType, parseDate);
  const state = source.state;
  parseScalar(schema.getType('DateTime') as GraphQLScalarType, parseDateTime);
  // Start times as served: projected, in whole milliseconds as their ISO text carries them.
  const servedAt = (simMs: number) => new Date(source.project(simMs)).getTime();
  const iso = (simMs: number) => new Date(servedAt(simMs)).toISOString();

  const competitor = (race: RacePlan, i: number, now: number) => {
    const r = race.runners[i]!;
    // __typename picks the interface's implementation (graphql-js's default type resolver reads it).
    const details = { __typename: 'HorseDetails', id: r.id, clothNumber: r.clothNumber };
    const announced = state?.entryStatus.get(`${race.id}/${r.id}`);
    const entryStatus = announced && ENTRY_STATUSES.has(announced) ? announced : entryStatusAt(race, i, now);
    return { id: r.id, name: r.name, entryStatus, details };
  };
  const eventResult = (race: RacePlan) => {
    const r = state?.result.get(race.id);
    if (!r) return null;
    const status = FINAL_OR_PROVISIONAL(r.status);
    return {
      status,
      results: (args: PageArgs) =>
        page(r.competitorResults, args, (c) => ({
          id: c.competitorId,
          name: c.name ?? null,
          finishingPosition: c.finishingPosition,
          status: FINAL_OR_PROVISIONAL(c.status ?? status),
        })),
    };
  };
  const eventStatus = (race: RacePlan, now: number) => {
    const announced = state?.eventStatus.get(race.id);
    return announced && EVENT_STATUSES.has(announced) ? announced : eventStatusAt(race, now);
  };
  const sellingStatus = (p: ProductPlan, now: number) => {
    const announced = state?.productStatus.get(p.id);
    // Tote's selling status has no SETTLED: a settled product is closed to bets.
    if (announced === 'OPEN') return 'OPEN';
    if (announced === 'CLOSED' || announced === 'SETTLED') return 'CLOSED';
    return sellingStatusAt(p, now);
  };
  const pool = (p: ProductPlan) => {
    const a = state?.pool.get(p.id);
    if (!a) return null;
    return {
      total: { grossAmount: gatewayMoney(a.gross), netAmount: gatewayMoney(a.net) },
      takeout: a.takeoutPercentage === undefined ? null : { percentage: a.takeoutPercentage },
    };
  };
  const productResult = (p: ProductPlan) => {
    const d = state?.dividends.get(p.id);
    if (!d) return null;
    return {
      status: FINAL_OR_PROVISIONAL(d.status),
      dividends: (args: PageArgs) =>
        page(d.dividends, args, (line) => ({
          dividend: {
            name: line.dividend.name ?? null,
            type: line.dividend.type === 'FIXED' ? 'FIXED' : 'POOL',
            status: FINAL_OR_PROVISIONAL(line.dividend.status ?? d.status),
            amount: gatewayMoney(line.dividend.amounts?.[0]),
          },
          dividendLegs: (legArgs: PageArgs) =>
            page(line.legs, legArgs, (leg) => ({
              id: leg.legId,
              dividendSelections: (selArgs: PageArgs) =>
                page(leg.selections, selArgs, (sel) => ({ id: sel.id, finishingPosition: sel.finishingPosition })),
            })),
        })),
    };
  };
  const event = (race: RacePlan, now: number) => ({
    id: race.id,
    name: race.name,
    scheduledStartDateTime: { iso8601: iso(race.scheduledAt) },
    status: eventStatus(race, now),
    venue: race.venue,
    result: () => eventResult(race),
    // Functions are resolved only when selected (graphql-js calls them as resolvers).
    eventCompetitors: () => ({ nodes: race.runners.map((_, i) => competitor(race, i, now)) }),
  });
  const product = (plan: DayPlan, p: ProductPlan, now: number) => {
    const bettingProduct: Record<string, unknown> = {
      __typename: 'BettingProduct',
      id: p.id,
      name: p.name,
      betType: { code: p.betType },
      selling: { status: sellingStatus(p, now) },
      pool: () => pool(p),
      result: () => productResult(p),
      country: plan.races[p.legs[0]!.raceOrder]!.venue.country,
      legs: () => ({
        nodes: p.legs.map((leg) => {
          const race = plan.races[leg.raceOrder]!;
          return {
            id: leg.id,
            event: () => event(race, now),
            selections: () => ({
              nodes: leg.selections.map((id, i) => ({ id, name: race.runners[i]!.name, competitor: competitor(race, i, now) })),
            }),
          };
        }),
      }),
    };
    // Tote serves a product's fields on `type` (the product as a BettingProduct) since its Feb 2025 change.
    bettingProduct.type = bettingProduct;
    return bettingProduct;
  };

  /** Simulated ms of a real instant: the inverse of `project`, which is linear in simulated time. */
  const simAt = (realMs: number, now: number) => {
    const p0 = source.project(now);
    const perSimMs = (source.project(now + DAY_MS) - p0) / DAY_MS;
    return now + (realMs - p0) / perSimMs;
  };
  /** Races starting (as served) within since..until, both ends included; an open end reaches a simulated day from the other. */
  const racesBetween = (args: EventArgs, now: number): RacePlan[] => {
    const { since, until } = args;
    if (since == null && until == null) return [...(source.planFor(undefined)?.races ?? [])];
    const simFrom = since != null ? simAt(since, now) : simAt(until!, now) - DAY_MS;
    const simTo = until != null ? simAt(until, now) : simFrom + DAY_MS;
    if (simTo < simFrom) return [];
    const first = londonDate(simFrom);
    const days = daysBetween(first, londonDate(simTo)) + 1;
    if (days > MAX_EVENT_WINDOW_DAYS) {
      throw new GraphQLError(`since..until spans ${days} simulated days; the simulator serves at most ${MAX_EVENT_WINDOW_DAYS}.`);
    }
    const from = since ?? -Infinity;
    const to = until ?? Infinity;
    const races: RacePlan[] = [];
    for (let d = 0; d < days; d++) {
      for (const race of source.planFor(addDays(first, d))?.races ?? []) {
        const at = servedAt(race.scheduledAt);
        if (at >= from && at <= to) races.push(race);
      }
    }
    return races;
  };

  const fields = schema.getQueryType()!.getFields();
  fields.events!.resolve = (_root, args: EventArgs) => {
    const now = source.simNow();
    return page(racesBetween(args, now), args, (race) => event(race, now));
  };
  fields.products!.resolve = (_root, args: PageArgs & { date?: string | null }) => {
    const plan = source.planFor(args.date ?? undefined);
    const now = source.simNow();
    return page(plan?.products ?? [], args, (p) => product(plan!, p, now));
  };
  fields.event!.resolve = (_root, args: { id?: string | null }) => {
    const race = args.id == null ? undefined : source.planFor(undefined)?.raceById.get(args.id);
    return race ? event(race, source.simNow()) : null;
  };
  fields.product!.resolve = (_root, args: { id?: string | null }) => {
    const plan = source.planFor(undefined);
    const p = args.id == null ? undefined : plan?.productById.get(args.id);
    return plan && p ? product(plan, p, source.simNow()) : null;
  };
  return schema;
}
