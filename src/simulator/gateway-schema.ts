/**
 * The executable query gateway: the day's card (events and products) read
 * from the day plans, with statuses as of the simulated now and start times
 * projected to real wall-clock time.
 */
import type { GraphQLSchema } from 'graphql';
import { graphql } from './graphql-runtime.js';
import type { DayPlan, ProductPlan, RacePlan } from './day-plan.js';
import { GATEWAY_SDL } from './gateway-sdl.js';
import { isIsoDate } from './london-time.js';
import { entryStatusAt, eventStatusAt, sellingStatusAt } from './race-status.js';

const { GraphQLError, buildSchema } = graphql;

/** Tote's documented page size limit. */
export const MAX_PAGE_SIZE = 250;
const DEFAULT_PAGE_SIZE = 50;

export interface CardSource {
  /** The plan of `date` (YYYY-MM-DD), or of the current simulated day; undefined when out of range. */
  planFor(date: string | undefined): DayPlan | undefined;
  simNow(): number;
  /** Simulated epoch ms -> the real epoch ms at which it will happen. */
  project(simMs: number): number;
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
  date?: string | null;
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
    totalCount: items.length,
    pageInfo: {
      hasNextPage: end < items.length,
      hasPreviousPage: start > 0,
      startCursor: slice.length ? encodeCursor(start) : null,
      endCursor: slice.length ? encodeCursor(end - 1) : null,
    },
  };
}

export function buildGatewaySchema(source: CardSource): GraphQLSchema {
  const schema = buildSchema(GATEWAY_SDL);
  const iso = (simMs: number) => new Date(source.project(simMs)).toISOString();

  const competitor = (race: RacePlan, i: number, now: number) => {
    const r = race.runners[i]!;
    // __typename picks the CompetitorDetails implementation (graphql-js's default type resolver reads it).
    const details = { __typename: 'HorseDetails', id: r.id, clothNumber: r.clothNumber };
    return { id: r.id, name: r.name, entryStatus: entryStatusAt(race, i, now), details };
  };
  const event = (race: RacePlan, now: number) => ({
    id: race.id,
    name: race.name,
    scheduledStartDateTime: { iso8601: iso(race.scheduledAt) },
    status: eventStatusAt(race, now),
    venue: race.venue,
    // Functions are resolved only when selected (graphql-js calls them as resolvers).
    eventCompetitors: () => ({ nodes: race.runners.map((_, i) => competitor(race, i, now)) }),
  });
  const product = (plan: DayPlan, p: ProductPlan, now: number) => ({
    id: p.id,
    name: p.name,
    type: { code: p.betType },
    selling: { status: sellingStatusAt(p, now) },
    legs: p.legs.map((leg) => {
      const race = plan.races[leg.raceOrder]!;
      return {
        id: leg.id,
        event: () => event(race, now),
        selections: () => leg.selections.map((id, i) => ({ id, competitor: competitor(race, i, now) })),
      };
    }),
  });

  const planOf = (date: string | null | undefined): DayPlan | undefined => {
    if (date != null && !isIsoDate(date)) throw new GraphQLError(`date must be YYYY-MM-DD, got "${date}".`);
    return source.planFor(date ?? undefined);
  };
  const fields = schema.getQueryType()!.getFields();
  fields.events!.resolve = (_root, args: PageArgs) => {
    const plan = planOf(args.date);
    const now = source.simNow();
    return page(plan?.races ?? [], args, (race) => event(race, now));
  };
  fields.products!.resolve = (_root, args: PageArgs) => {
    const plan = planOf(args.date);
    const now = source.simNow();
    return page(plan?.products ?? [], args, (p) => product(plan!, p, now));
  };
  fields.event!.resolve = (_root, args: { id: string }) => {
    const plan = source.planFor(undefined);
    const race = plan?.raceById.get(args.id);
    return race ? event(race, source.simNow()) : null;
  };
  fields.product!.resolve = (_root, args: { id: string }) => {
    const plan = source.planFor(undefined);
    const p = plan?.productById.get(args.id);
    return plan && p ? product(plan, p, source.simNow()) : null;
  };
  return schema;
}
