/**
 * The racing card of one simulated day, and each race's fate (non-runners,
 * delay, result), derived from (seed, dayIndex) alone. The message streams in
 * timeline.ts turn this plan into Tote messages; the query gateway serves it.
 *
 * Size: 4-6 meetings of at most 8 races with at most 14 runners, so a plan is
 * a few hundred objects; one is kept per simulated day.
 */
import { Rng } from './prng.js';
import { DAY_VENUES, EVENING_VENUES, horseName, raceTitle } from './racing-names.js';
import { londonHHMM, londonTime } from './london-time.js';

export type BetTypeCode = 'WIN' | 'PLACE' | 'EXACTA' | 'TRIFECTA' | 'PLACEPOT';

export const RACE_BET_TYPES: readonly BetTypeCode[] = ['WIN', 'PLACE', 'EXACTA', 'TRIFECTA'];

/** Illustrative takeouts; Tote's one worked example nets 74% of the gross. */
export const TAKEOUT: Readonly<Record<BetTypeCode, number>> = {
  WIN: 0.26,
  PLACE: 0.18,
  EXACTA: 0.29,
  TRIFECTA: 0.29,
  PLACEPOT: 0.27,
};

const MIN = 60_000;
/** Products open an hour before a meeting's first race. */
const OPEN_BEFORE_FIRST_RACE_MS = 60 * MIN;
/** Last race of the day goes off no later than 21:30 London time. */
const LAST_OFF_MINUTES = 21 * 60 + 30;

export interface Country {
  readonly name: string;
  readonly alpha2Code: string;
  readonly alpha3Code: string;
}

export interface Venue {
  readonly id: string;
  readonly name: string;
  readonly country: Country;
}

export interface Runner {
  readonly id: string;
  readonly name: string;
  readonly clothNumber: number;
  /** Relative ability: pool shares follow it and results are drawn from it. */
  readonly strength: number;
}

export interface NonRunner {
  readonly runner: number;
  readonly at: number;
}

export interface RaceFate {
  readonly nonRunners: readonly NonRunner[];
  /** A selection suspended for a while (e.g. a stewards' query), then made available again. */
  readonly suspension?: { readonly runner: number; readonly at: number; readonly until: number };
  /** Extra event details published mid-market (going, weather). */
  readonly updateAt?: number;
  readonly delayed: boolean;
  readonly offAt: number;
  readonly finishAt: number;
  readonly provisionalAt: number;
  readonly finalAt: number;
  /** Runner indices in finishing order; non-runners excluded. */
  readonly order: readonly number[];
}

export interface ProductLeg {
  readonly id: string;
  readonly raceOrder: number;
  readonly eventId: string;
  /** Selection id per runner index of that race. */
  readonly selections: readonly string[];
}

export interface ProductPlan {
  readonly id: string;
  readonly order: number;
  readonly name: string;
  readonly betType: BetTypeCode;
  readonly legs: readonly ProductLeg[];
  readonly openAt: number;
  /** Selling stops at the (first leg's) off. */
  readonly closeAt: number;
  /** The last leg's final result: dividends and settlement follow it. */
  readonly resultAt: number;
  readonly finalGross: number;
  readonly takeout: number;
  readonly guarantee?: number;
}

export interface RacePlan {
  readonly id: string;
  /** Position in the day's running order (by scheduled off). */
  readonly order: number;
  readonly meeting: number;
  readonly raceNumber: number;
  readonly name: string;
  readonly venue: Venue;
  readonly scheduledAt: number;
  readonly openAt: number;
  readonly runners: readonly Runner[];
  readonly fate: RaceFate;
  readonly products: readonly ProductPlan[];
}

export interface MeetingPlan {
  readonly index: number;
  readonly venue: Venue;
  readonly openAt: number;
  readonly races: readonly RacePlan[];
  readonly placepot: ProductPlan;
}

export interface DayPlan {
  readonly seed: number;
  readonly dayIndex: number;
  readonly date: string;
  readonly meetings: readonly MeetingPlan[];
  /** All races, by scheduled off. */
  readonly races: readonly RacePlan[];
  /** All products: each race's four, then each meeting's placepot. */
  readonly products: readonly ProductPlan[];
  readonly firstActivityAt: number;
  readonly raceById: ReadonlyMap<string, RacePlan>;
  readonly productById: ReadonlyMap<string, ProductPlan>;
}

const UK: Country = { name: 'United Kingdom', alpha2Code: 'GB', alpha3Code: 'GBR' };

/** Seed of day `dayIndex`: the day after rolls to seed+day, as the brief of the runner says. */
export function planDay(seed: number, dayIndex: number, date: string): DayPlan {
  const card = Rng.for(seed, dayIndex, 'card');
  const meetingCount = card.int(4, 6);
  const evening = card.int(1, Math.min(3, meetingCount - 2));
  const dayVenues = card.shuffle(DAY_VENUES);
  const nightVenues = card.shuffle(EVENING_VENUES);

  const starts: { venue: string; firstMinutes: number }[] = [];
  for (let i = 0; i < meetingCount - evening; i++) {
    // The first meeting opens the day around midday; the others spread over the afternoon.
    const firstMinutes = i === 0 ? 12 * 60 + 5 * card.int(0, 4) : 12 * 60 + 5 * card.int(1, 27);
    starts.push({ venue: dayVenues[i]!, firstMinutes });
  }
  for (let i = 0; i < evening; i++) starts.push({ venue: nightVenues[i]!, firstMinutes: 16 * 60 + 30 + 5 * card.int(0, 18) });

  let productOrder = 0;
  const draft: { meeting: number; venue: Venue; races: Omit<RacePlan, 'order' | 'products'>[] }[] = [];
  starts.forEach((s, m) => {
    const rng = Rng.for(seed, dayIndex, 'meeting', m);
    const venue: Venue = { id: rng.guid(), name: s.venue, country: UK };
    const raceCount = rng.int(6, 8);
    const races: Omit<RacePlan, 'order' | 'products'>[] = [];
    let minutes = s.firstMinutes;
    const openAt = londonTime(date, s.firstMinutes) - OPEN_BEFORE_FIRST_RACE_MS;
    for (let r = 1; r <= raceCount && minutes <= LAST_OFF_MINUTES; r++) {
      const raceRng = Rng.for(seed, dayIndex, 'race', m, r);
      const scheduledAt = londonTime(date, minutes);
      const runners = makeRunners(raceRng);
      races.push({
        id: raceRng.guid(),
        meeting: m,
        raceNumber: r,
        name: raceTitle(raceRng),
        venue,
        scheduledAt,
        openAt,
        runners,
        fate: makeFate(raceRng, runners, openAt, scheduledAt),
      });
      minutes += 5 * rng.int(4, 7);
    }
    draft.push({ meeting: m, venue, races });
  });

  // Running order across meetings decides stream ordering, so it is fixed here.
  const flat = draft.flatMap((d) => d.races).sort((a, b) => a.scheduledAt - b.scheduledAt || a.meeting - b.meeting);
  const firstRaceId = flat[0]!.id;
  const races: RacePlan[] = flat.map((race, order) => {
    const rng = Rng.for(seed, dayIndex, 'products', race.id);
    const fate = race.id === firstRaceId ? showcaseFate(rng, race) : race.fate;
    const base = Math.exp(Math.log(7000) + 0.6 * rng.normal());
    const products = RACE_BET_TYPES.map((betType): ProductPlan => {
      const leg: ProductLeg = { id: rng.guid(), raceOrder: order, eventId: race.id, selections: race.runners.map(() => rng.guid()) };
      const share = { WIN: 1, PLACE: 0.55, EXACTA: 0.35, TRIFECTA: 0.3, PLACEPOT: 0 }[betType];
      return {
        id: rng.guid(),
        order: productOrder++,
        name: `${race.venue.name} ${londonHHMM(race.scheduledAt)} - ${betType}`,
        betType,
        legs: [leg],
        openAt: race.openAt,
        closeAt: fate.offAt,
        resultAt: fate.finalAt,
        finalGross: round2(Math.max(800, base * share * rng.range(0.8, 1.25))),
        takeout: TAKEOUT[betType],
        ...(betType === 'TRIFECTA' && rng.chance(0.1) ? { guarantee: 5000 } : {}),
      };
    });
    return { ...race, fate, order, products };
  });

  const meetings: MeetingPlan[] = draft.map((d) => {
    const own = races.filter((r) => r.meeting === d.meeting);
    const rng = Rng.for(seed, dayIndex, 'placepot', d.meeting);
    const legRaces = own.slice(0, 6);
    const placepot: ProductPlan = {
      id: rng.guid(),
      order: productOrder++,
      name: `${d.venue.name} ${londonHHMM(legRaces[0]!.scheduledAt)} - PLACEPOT`,
      betType: 'PLACEPOT',
      legs: legRaces.map((r) => ({ id: rng.guid(), raceOrder: r.order, eventId: r.id, selections: r.runners.map(() => rng.guid()) })),
      openAt: own[0]!.openAt,
      closeAt: legRaces[0]!.fate.offAt,
      resultAt: Math.max(...legRaces.map((r) => r.fate.finalAt)),
      finalGross: round2(Math.exp(Math.log(40_000) + 0.5 * rng.normal())),
      takeout: TAKEOUT.PLACEPOT,
      ...(rng.chance(0.3) ? { guarantee: 50_000 } : {}),
    };
    return { index: d.meeting, venue: d.venue, openAt: own[0]!.openAt, races: own, placepot };
  });

  const products = [...races.flatMap((r) => r.products), ...meetings.map((m) => m.placepot)];
  return {
    seed,
    dayIndex,
    date,
    meetings,
    races,
    products,
    firstActivityAt: Math.min(...meetings.map((m) => m.openAt)),
    raceById: new Map(races.map((r) => [r.id, r])),
    productById: new Map(products.map((p) => [p.id, p])),
  };
}

function makeRunners(rng: Rng): Runner[] {
  const count = rng.int(6, 14);
  const taken = new Set<string>();
  return Array.from({ length: count }, (_, i) => ({
    id: rng.guid(),
    name: horseName(rng, taken),
    clothNumber: i + 1,
    strength: Math.exp(0.8 * rng.normal()),
  }));
}

function makeFate(rng: Rng, runners: readonly Runner[], openAt: number, scheduledAt: number): RaceFate {
  const nonRunners: NonRunner[] = [];
  if (rng.chance(0.35)) {
    const count = rng.chance(0.25) ? 2 : 1;
    for (const runner of rng.shuffle(runners.map((_, i) => i)).slice(0, count)) {
      nonRunners.push({ runner, at: Math.round(rng.range(openAt + 2 * MIN, scheduledAt - 10 * MIN)) });
    }
  }
  const out = new Set(nonRunners.map((n) => n.runner));
  const running = runners.map((_, i) => i).filter((i) => !out.has(i));
  let suspension: RaceFate['suspension'];
  if (rng.chance(0.06)) {
    const at = Math.round(rng.range(openAt + 2 * MIN, scheduledAt - 15 * MIN));
    suspension = { runner: rng.pick(running), at, until: at + Math.round(rng.range(2, 6) * MIN) };
  }
  const delayed = rng.chance(0.08);
  // Races routinely go off a minute or two late; a "delayed" one by several minutes.
  const offAt = scheduledAt + Math.round(delayed ? rng.range(3, 10) * MIN : rng.range(0, 150_000));
  const finishAt = offAt + Math.round(rng.range(60_000, 300_000));
  const provisionalAt = finishAt + Math.round(rng.range(20_000, 60_000));
  return {
    nonRunners,
    ...(suspension ? { suspension } : {}),
    ...(rng.chance(0.15) ? { updateAt: Math.round(rng.range(openAt + MIN, scheduledAt - 5 * MIN)) } : {}),
    delayed,
    offAt,
    finishAt,
    provisionalAt,
    finalAt: provisionalAt + Math.round(rng.range(3, 8) * MIN),
    order: finishingOrder(rng, runners, running),
  };
}

/**
 * The day's first race shows every kind of message early: a non-runner soon
 * after the market opens (CompetitorStatusChanged, SelectionStatusChanged,
 * EventUpdated), so a client sees all fifteen types within its first cycle.
 */
function showcaseFate(rng: Rng, race: Omit<RacePlan, 'order' | 'products'>): RaceFate {
  const fate = race.fate;
  if (fate.nonRunners.length > 0) return fate;
  const runner = fate.order[fate.order.length - 1]!;
  return {
    ...fate,
    nonRunners: [{ runner, at: race.openAt + Math.round(rng.range(3, 10) * MIN) }],
    order: fate.order.filter((i) => i !== runner),
  };
}

/** Plackett-Luce: the stronger a runner the likelier it finishes ahead. */
function finishingOrder(rng: Rng, runners: readonly Runner[], running: readonly number[]): number[] {
  const left = [...running];
  const order: number[] = [];
  while (left.length) {
    const i = rng.weighted(left.map((r) => runners[r]!.strength));
    order.push(left.splice(i, 1)[0]!);
  }
  return order;
}

export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Places paid in a race with `running` runners (UK each-way terms). */
export function placesPaid(running: number): number {
  return running >= 8 ? 3 : running >= 5 ? 2 : 1;
}
