/**
 * Client for Tote's query gateway, used for names: the day's events with
 * their runners, and products with the runner behind each selection (the
 * subscription messages carry ids only).
 *
 * The queries follow Tote's gateway schema (the simulator serves a subset of
 * it, src/simulator/gateway-sdl.ts, and test/gateway.test.ts validates these
 * exact texts against it). Tote's events cannot be asked for by date, only
 * by start instants (`since`/`until`), while products take a date; so the
 * products come first and the events are asked for over their start times.
 *
 * It pages through both lists with cursors, at most `maxPages` pages each (a
 * card larger than that comes back with `truncated: true` rather than never
 * finishing), each request bounded by `timeoutMs`. Runners per event and
 * selections per product are capped the same way (`maxCompetitorsPerEvent`,
 * `maxSelectionsPerProduct`): the rest are left out and `truncated` is set.
 * Nearly every field of Tote's schema is nullable: a node without an id is
 * skipped, a missing name or status reads as ''. The key travels only in the
 * `Authorization: Api-Key <key>` header; errors never contain it.
 *
 * The exact queries sent are DAY_CARD_PRODUCTS_QUERY and DAY_CARD_EVENTS_QUERY.
 *
 * It also reads the day's state for the reconciliation after a reconnect
 * (fetchDayState: STATE_PRODUCTS_QUERY and STATE_EVENTS_QUERY), paged the same
 * way, with at least `minRequestGapMs` between requests.
 */

import type { DayCard, DayCardCompetitor, DayCardSelection } from '../day-card/day-card.js';

export interface FetchDayCardOptions {
  /** Per request. @default 10000 */
  timeoutMs?: number;
  /** Items per page; Tote allows at most 250. @default 250 */
  pageSize?: number;
  /** Pages per list before giving up with truncated: true. @default 20 */
  maxPages?: number;
  /** Runners kept per event; the largest British field is 40 (the Grand National). @default 64 */
  maxCompetitorsPerEvent?: number;
  /** Selections kept per product: 64 runners in each of up to 8 legs (Scoop6, Placepot7). @default 512 */
  maxSelectionsPerProduct?: number;
  /** Cancels the whole fetch. */
  signal?: AbortSignal;
  /** Least time between two requests of one fetch, so a fetch never bursts at the gateway. @default 0 */
  minRequestGapMs?: number;
}

export type GatewayErrorKind = 'auth' | 'http' | 'graphql' | 'timeout' | 'aborted' | 'network' | 'bad-response';

export class GatewayError extends Error {
  constructor(
    message: string,
    readonly kind: GatewayErrorKind,
    /** Endpoint origin and path (never query string or credentials). */
    readonly endpoint: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

/**
 * The day's products (`date` null for the gateway's today). Product fields sit
 * behind `type { ... on BettingProduct }`, as Tote documents since its
 * 10 Feb 2025 change; each leg names its event and start, and each selection
 * its runner.
 */
export const DAY_CARD_PRODUCTS_QUERY = `query DayCardProducts($date: Date, $first: Int, $after: String) {
  products(date: $date, first: $first, after: $after) {
    nodes {
      id name
      type {
        ... on BettingProduct {
          betType { code } selling { status }
          legs { nodes { event { id scheduledStartDateTime { iso8601 } } selections { nodes { id competitor { id } } } } }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** The events starting within since..until, with their runners (Tote's events take instants, not a date). */
export const DAY_CARD_EVENTS_QUERY = `query DayCardEvents($since: DateTime, $until: DateTime, $first: Int, $after: String) {
  events(since: $since, until: $until, first: $first, after: $after) {
    nodes {
      id name status scheduledStartDateTime { iso8601 } venue { name }
      eventCompetitors { nodes { id name details { ... on HorseDetails { clothNumber } ... on GreyhoundDetails { trapNumber } } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}`;

const DEFAULTS = {
  timeoutMs: 10_000,
  pageSize: 250,
  maxPages: 20,
  maxCompetitorsPerEvent: 64,
  maxSelectionsPerProduct: 512,
  minRequestGapMs: 0,
};
/**
 * The events window reaches this far past the products' first and last start:
 * Tote does not say whether `until` is inclusive, and a start time can move
 * between the two queries (a simulator's paused clock projects it later as
 * real time passes). Events outside the products are dropped anyway.
 */
const WINDOW_MARGIN_MS = 10_000;

type Options = Required<Omit<FetchDayCardOptions, 'signal'>> & { signal?: AbortSignal; requests?: { count: number; lastAt: number } };

/** Tote's connections: a nullable list of nullable nodes and a page info. */
interface Page<N> {
  nodes: (N | null)[] | null;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** Every field of Tote's types here is nullable unless marked `!` in its schema (only statuses and numbers are). */
interface EventNode {
  id: string | null;
  name: string | null;
  status: string;
  scheduledStartDateTime: { iso8601: string | null } | null;
  venue: { name: string | null } | null;
  eventCompetitors: { nodes: (CompetitorNode | null)[] | null } | null;
}

interface CompetitorNode {
  id: string | null;
  name: string | null;
  details: { clothNumber?: number; trapNumber?: number } | null;
}

interface LegNode {
  event: { id: string | null; scheduledStartDateTime: { iso8601: string | null } | null } | null;
  selections: { nodes: ({ id: string | null; competitor: { id: string | null } | null } | null)[] | null } | null;
}

interface ProductNode {
  id: string | null;
  name: string | null;
  /** Empty when the product is not a BettingProduct (the fragment matches nothing). */
  type: {
    betType?: { code: string } | null;
    selling?: { status: string } | null;
    legs?: { nodes: (LegNode | null)[] | null } | null;
  } | null;
}

function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return u.origin + u.pathname;
  } catch {
    return '(invalid URL)';
  }
}

/** Any text that came from elsewhere is scrubbed of the key before it can reach an error. */
function scrub(text: string, apiKey: string): string {
  return apiKey ? text.split(apiKey).join('[redacted]') : text;
}

function isPage(v: unknown): v is Page<unknown> {
  const p = v as Page<unknown> | null;
  return !!p && (p.nodes === null || Array.isArray(p.nodes)) && !!p.pageInfo && typeof p.pageInfo.hasNextPage === 'boolean';
}

/** What one request answered: its data, and the first GraphQL error beside it (Tote nulls a failed field and says why in errors). */
interface Answer {
  data: Record<string, unknown>;
  firstError: string | undefined;
}

async function post(url: string, apiKey: string, query: string, variables: Record<string, unknown>, o: Options): Promise<Answer> {
  const endpoint = endpointOf(url);
  const fail = (message: string, kind: GatewayErrorKind, status?: number) =>
    new GatewayError(scrub(`gateway ${endpoint}: ${message}`, apiKey), kind, endpoint, status);
  if (o.requests) {
    const wait = o.requests.lastAt + o.minRequestGapMs - Date.now();
    if (o.requests.count > 0 && wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (o.signal?.aborted) throw fail('aborted', 'aborted');
    o.requests.count++;
    o.requests.lastAt = Date.now();
  }
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Api-Key ${apiKey}` },
      body: JSON.stringify({ query, variables }),
      signal,
    });
    text = await res.text();
  } catch (err) {
    if (timeout.aborted) throw fail(`no answer within ${o.timeoutMs} ms`, 'timeout');
    if (o.signal?.aborted) throw fail('aborted', 'aborted');
    throw fail(
      `request failed: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`,
      'network',
    );
  }
  if (res.status === 401 || res.status === 403) throw fail(`HTTP ${res.status}: the API key was refused`, 'auth', res.status);
  let body: { data?: Record<string, unknown> | null; errors?: { message?: unknown }[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw fail(`HTTP ${res.status} with a body that is not JSON`, res.ok ? 'bad-response' : 'http', res.status);
  }
  const message = body?.errors?.[0]?.message;
  const firstError =
    message === undefined ? undefined : scrub((typeof message === 'string' ? message : JSON.stringify(message)).slice(0, 300), apiKey);
  if (!res.ok) throw fail(`HTTP ${res.status}${firstError ? `: ${firstError}` : ''}`, 'http', res.status);
  if (!body?.data)
    throw fail(firstError ? `GraphQL error: ${firstError}` : 'response without data', firstError ? 'graphql' : 'bad-response', res.status);
  return { data: body.data, firstError };
}

/** Every page of one connection, at most maxPages; null nodes (items Tote could not resolve) are skipped. */
async function pages<N>(
  url: string,
  apiKey: string,
  query: string,
  field: string,
  variables: Record<string, unknown>,
  o: Options,
): Promise<{ nodes: N[]; truncated: boolean }> {
  const endpoint = endpointOf(url);
  const nodes: N[] = [];
  let after: string | null = null;
  for (let n = 0; n < o.maxPages; n++) {
    const { data, firstError } = await post(url, apiKey, query, { ...variables, first: o.pageSize, after }, o);
    const page = data[field];
    if (!isPage(page)) {
      if (firstError) throw new GatewayError(`gateway ${endpoint}: GraphQL error: ${firstError}`, 'graphql', endpoint);
      throw new GatewayError(`gateway ${endpoint}: ${field} is not a page of nodes`, 'bad-response', endpoint);
    }
    for (const node of page.nodes ?? []) if (node) nodes.push(node as N);
    if (!page.pageInfo.hasNextPage) return { nodes, truncated: false };
    if (!page.pageInfo.endCursor || page.pageInfo.endCursor === after) {
      throw new GatewayError(`gateway ${endpoint}: ${field} says there is a next page but gives no new cursor`, 'bad-response', endpoint);
    }
    after = page.pageInfo.endCursor;
  }
  return { nodes, truncated: true };
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n);
const isId = (id: unknown): id is string => typeof id === 'string';

/** Runners with an id; the number is the cloth number, or the trap number for greyhounds. */
function competitorsOf(e: EventNode): DayCardCompetitor[] {
  return (e.eventCompetitors?.nodes ?? []).flatMap((c) => {
    if (!c || !isId(c.id)) return [];
    const d = c.details;
    const number = isCount(d?.clothNumber) ? d.clothNumber : isCount(d?.trapNumber) ? d.trapNumber : null;
    return [{ id: c.id, name: c.name ?? '', number }];
  });
}

const legsOf = (p: ProductNode): LegNode[] => (p.type?.legs?.nodes ?? []).filter((l): l is LegNode => !!l);

function selectionsOf(p: ProductNode): DayCardSelection[] {
  return legsOf(p).flatMap((l) =>
    (l.selections?.nodes ?? []).flatMap((s) =>
      s && isId(s.id) && isId(s.competitor?.id) ? [{ id: s.id, competitorId: s.competitor.id }] : [],
    ),
  );
}

/**
 * The instants to ask events for: from the first to the last start of the
 * products' events, widened by WINDOW_MARGIN_MS. Tote's events have no date
 * filter, and the products' own starts are on the gateway's clock, which a
 * simulator's differs from. Undefined when no leg gives a start.
 */
function eventsWindow(products: ProductNode[]): { since: string; until: string } | undefined {
  let first = Infinity;
  let last = -Infinity;
  for (const p of products) {
    for (const l of legsOf(p)) {
      const at = Date.parse(l.event?.scheduledStartDateTime?.iso8601 ?? '');
      if (!Number.isFinite(at)) continue;
      first = Math.min(first, at);
      last = Math.max(last, at);
    }
  }
  if (first > last) return undefined;
  return { since: new Date(first - WINDOW_MARGIN_MS).toISOString(), until: new Date(last + WINDOW_MARGIN_MS).toISOString() };
}

/**
 * The day's products, then the events they run on: `date` is YYYY-MM-DD,
 * omitted for the gateway's today. Events come from one events query over the
 * products' start times; those no product runs on are left out.
 */
function optionsOf(opts: FetchDayCardOptions): Options {
  return {
    timeoutMs: opts.timeoutMs ?? DEFAULTS.timeoutMs,
    pageSize: opts.pageSize ?? DEFAULTS.pageSize,
    maxPages: opts.maxPages ?? DEFAULTS.maxPages,
    maxCompetitorsPerEvent: opts.maxCompetitorsPerEvent ?? DEFAULTS.maxCompetitorsPerEvent,
    maxSelectionsPerProduct: opts.maxSelectionsPerProduct ?? DEFAULTS.maxSelectionsPerProduct,
    minRequestGapMs: opts.minRequestGapMs ?? DEFAULTS.minRequestGapMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
    requests: { count: 0, lastAt: 0 },
  };
}

export async function fetchDayCard(url: string, apiKey: string, date?: string, opts: FetchDayCardOptions = {}): Promise<DayCard> {
  const o = optionsOf(opts);
  const products = await pages<ProductNode>(url, apiKey, DAY_CARD_PRODUCTS_QUERY, 'products', { date: date ?? null }, o);
  const window = eventsWindow(products.nodes);
  const events = window ? await pages<EventNode>(url, apiKey, DAY_CARD_EVENTS_QUERY, 'events', window, o) : { nodes: [], truncated: false };
  const eventIdsOf = (p: ProductNode) => legsOf(p).flatMap((l) => (isId(l.event?.id) ? [l.event.id] : []));
  const raced = new Set(products.nodes.flatMap(eventIdsOf));
  let cut = false;
  const capped = <T>(items: T[], max: number): T[] => {
    if (items.length <= max) return items;
    cut = true;
    return items.slice(0, max);
  };
  return {
    events: events.nodes.flatMap((e) =>
      isId(e.id) && raced.has(e.id)
        ? [
            {
              id: e.id,
              name: e.name ?? '',
              venue: e.venue?.name ?? '',
              scheduledStart: e.scheduledStartDateTime?.iso8601 ?? '',
              status: e.status ?? '',
              competitors: capped(competitorsOf(e), o.maxCompetitorsPerEvent),
            },
          ]
        : [],
    ),
    products: products.nodes.flatMap((p) =>
      isId(p.id)
        ? [
            {
              id: p.id,
              name: p.name ?? '',
              betType: p.type?.betType?.code ?? '',
              eventIds: eventIdsOf(p),
              status: p.type?.selling?.status ?? '',
              selections: capped(selectionsOf(p), o.maxSelectionsPerProduct),
            },
          ]
        : [],
    ),
    truncated: events.truncated || products.truncated || cut,
  };
}

// --- the day's state, for the reconciliation after a reconnect ---------------

/**
 * Results, dividends and their legs and selections are connections of their
 * own; one page of each is asked for, this large, and a fuller one is
 * reported as truncated rather than followed (no race has 64 placed runners,
 * no product 64 dividend lines).
 */
export const STATE_NESTED_PAGE = 64;

/**
 * Selling status, pool total and declared dividends of the day's products
 * (`date` null for the gateway's today); legs give the events' start times
 * for the events query, as for the day card.
 */
export const STATE_PRODUCTS_QUERY = `query DayStateProducts($date: Date, $first: Int, $after: String, $nested: Int) {
  products(date: $date, first: $first, after: $after) {
    nodes {
      id
      type {
        ... on BettingProduct {
          selling { status }
          pool { total { grossAmount { decimalAmount currency { code } } netAmount { decimalAmount currency { code } } } }
          result {
            status
            dividends(first: $nested) {
              nodes {
                dividend { name type status amount { decimalAmount currency { code } } }
                dividendLegs(first: $nested) {
                  nodes { id dividendSelections(first: $nested) { nodes { id finishingPosition } pageInfo { hasNextPage } } }
                  pageInfo { hasNextPage }
                }
              }
              pageInfo { hasNextPage }
            }
          }
          legs { nodes { event { id scheduledStartDateTime { iso8601 } } } }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** Status, result and runners' entry statuses of the events starting within since..until. */
export const STATE_EVENTS_QUERY = `query DayStateEvents($since: DateTime, $until: DateTime, $first: Int, $after: String, $nested: Int) {
  events(since: $since, until: $until, first: $first, after: $after) {
    nodes {
      id status
      result { status results(first: $nested) { nodes { id finishingPosition status } pageInfo { hasNextPage } } }
      eventCompetitors { nodes { id entryStatus } }
    }
    pageInfo { hasNextPage endCursor }
  }
}`;

interface MoneyNode {
  decimalAmount: number | string | null;
  currency: { code: string | null } | null;
}

interface NestedPage<N> {
  nodes: (N | null)[] | null;
  pageInfo?: { hasNextPage: boolean } | null;
}

export interface DividendLineNode {
  dividend: { name: string | null; type: string | null; status: string | null; amount: MoneyNode | null } | null;
  dividendLegs: NestedPage<{
    id: string | null;
    dividendSelections: NestedPage<{ id: string | null; finishingPosition: string | null }> | null;
  }> | null;
}

/** A product as STATE_PRODUCTS_QUERY answers it; every field may be null, as in Tote's schema. */
export interface ProductStateNode {
  id: string | null;
  type: {
    selling?: { status: string | null } | null;
    pool?: { total: { grossAmount: MoneyNode | null; netAmount: MoneyNode | null } | null } | null;
    result?: { status: string | null; dividends: NestedPage<DividendLineNode> | null } | null;
    legs?: { nodes: (LegNode | null)[] | null } | null;
  } | null;
}

/** An event as STATE_EVENTS_QUERY answers it. */
export interface EventStateNode {
  id: string | null;
  status: string | null;
  result: {
    status: string | null;
    results: NestedPage<{ id: string | null; finishingPosition: string | null; status: string | null }> | null;
  } | null;
  eventCompetitors: { nodes: ({ id: string | null; entryStatus: string | null } | null)[] | null } | null;
}

export interface DayState {
  products: ProductStateNode[];
  /** Only events that a product runs on. */
  events: EventStateNode[];
  /** A list had more pages than maxPages allows. */
  truncated: boolean;
  /** HTTP requests made. */
  requests: number;
}

export type FetchDayStateOptions = Omit<FetchDayCardOptions, 'maxCompetitorsPerEvent' | 'maxSelectionsPerProduct'>;

/** Today's products, then the events they run on: what the reconciliation compares with what the feed said. */
export async function fetchDayState(url: string, apiKey: string, date?: string, opts: FetchDayStateOptions = {}): Promise<DayState> {
  const o = optionsOf(opts);
  const nested = STATE_NESTED_PAGE;
  const products = await pages<ProductStateNode>(url, apiKey, STATE_PRODUCTS_QUERY, 'products', { date: date ?? null, nested }, o);
  const window = eventsWindow(products.nodes as ProductNode[]);
  const events = window
    ? await pages<EventStateNode>(url, apiKey, STATE_EVENTS_QUERY, 'events', { ...window, nested }, o)
    : { nodes: [], truncated: false };
  const raced = new Set(
    products.nodes.flatMap((p) => (p.type?.legs?.nodes ?? []).flatMap((l) => (l && isId(l.event?.id) ? [l.event.id] : []))),
  );
  return {
    products: products.nodes.filter((p) => isId(p.id)),
    events: events.nodes.filter((e) => isId(e.id) && raced.has(e.id)),
    truncated: products.truncated || events.truncated,
    requests: o.requests!.count,
  };
}
