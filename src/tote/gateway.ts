/**
 * Client for Tote's query gateway, used for names: the day's events with
 * their runners, and products with the runner behind each selection (the
 * subscription messages carry ids only).
 *
 * It pages through both lists with cursors, at most `maxPages` pages each (a
 * card larger than that comes back with `truncated: true` rather than never
 * finishing), each request bounded by `timeoutMs`. Runners per event and
 * selections per product are capped the same way (`maxCompetitorsPerEvent`,
 * `maxSelectionsPerProduct`): the rest are left out and `truncated` is set. The key travels only in the
 * `Authorization: Api-Key <key>` header; errors never contain it.
 *
 * The exact queries sent are DAY_CARD_EVENTS_QUERY and DAY_CARD_PRODUCTS_QUERY.
 */

export interface DayCardCompetitor {
  /** The competitorId of CompetitorStatusChanged and EventResultChanged. */
  id: string;
  name: string;
  /** Cloth number (horses) or trap number (greyhounds); null when the gateway gives neither. */
  number: number | null;
}

export interface DayCardEvent {
  id: string;
  name: string;
  venue: string;
  /** ISO 8601. */
  scheduledStart: string;
  status: string;
  /** Every declared runner, non-runners included, in the gateway's order. */
  competitors: DayCardCompetitor[];
}

/** A product leg's selection and the runner it backs (selection ids differ per product). */
export interface DayCardSelection {
  /** The selectionId of SelectionStatusChanged and of the selections in dividends. */
  id: string;
  competitorId: string;
}

export interface DayCardProduct {
  id: string;
  name: string;
  betType: string;
  eventIds: string[];
  status: string;
  /** All legs' selections whose runner the gateway names. */
  selections: DayCardSelection[];
}

export interface DayCard {
  events: DayCardEvent[];
  products: DayCardProduct[];
  /** True when a list had more pages than maxPages allows, or an event or product more runners or selections than kept. */
  truncated: boolean;
}

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

export const DAY_CARD_EVENTS_QUERY = `query DayCardEvents($date: String, $first: Int, $after: String) {
  events(date: $date, first: $first, after: $after) {
    nodes {
      id name status scheduledStartDateTime { iso8601 } venue { name }
      eventCompetitors { nodes { id name details { ... on HorseDetails { clothNumber } ... on GreyhoundDetails { trapNumber } } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const DAY_CARD_PRODUCTS_QUERY = `query DayCardProducts($date: String, $first: Int, $after: String) {
  products(date: $date, first: $first, after: $after) {
    nodes { id name type { code } legs { event { id } selections { id competitor { id } } } selling { status } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const DEFAULTS = { timeoutMs: 10_000, pageSize: 250, maxPages: 20, maxCompetitorsPerEvent: 64, maxSelectionsPerProduct: 512 };

type Options = Required<Omit<FetchDayCardOptions, 'signal'>> & { signal?: AbortSignal };

interface Page<N> {
  nodes: N[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

interface EventNode {
  id: string;
  name: string;
  status: string;
  scheduledStartDateTime: { iso8601: string } | null;
  venue: { name: string } | null;
  eventCompetitors: { nodes: (CompetitorNode | null)[] | null } | null;
}

interface CompetitorNode {
  id: string | null;
  name: string | null;
  details: { clothNumber?: number | null; trapNumber?: number | null } | null;
}

interface ProductNode {
  id: string;
  name: string;
  type: { code: string } | null;
  legs: { event: { id: string } | null; selections: ({ id: string | null; competitor: { id: string | null } | null } | null)[] | null }[] | null;
  selling: { status: string } | null;
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
  return !!p && Array.isArray(p.nodes) && !!p.pageInfo && typeof p.pageInfo.hasNextPage === 'boolean';
}

async function post(
  url: string,
  apiKey: string,
  query: string,
  variables: Record<string, unknown>,
  o: Options,
): Promise<Record<string, unknown>> {
  const endpoint = endpointOf(url);
  const fail = (message: string, kind: GatewayErrorKind, status?: number) =>
    new GatewayError(scrub(`gateway ${endpoint}: ${message}`, apiKey), kind, endpoint, status);
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
    throw fail(`request failed: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, 'network');
  }
  if (res.status === 401 || res.status === 403) throw fail(`HTTP ${res.status}: the API key was refused`, 'auth', res.status);
  let body: { data?: Record<string, unknown> | null; errors?: { message?: unknown }[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw fail(`HTTP ${res.status} with a body that is not JSON`, res.ok ? 'bad-response' : 'http', res.status);
  }
  const firstError = body?.errors?.[0]?.message;
  if (!res.ok) throw fail(`HTTP ${res.status}${firstError ? `: ${String(firstError).slice(0, 300)}` : ''}`, 'http', res.status);
  if (!body?.data) throw fail(firstError ? `GraphQL error: ${String(firstError).slice(0, 300)}` : 'response without data', firstError ? 'graphql' : 'bad-response', res.status);
  return body.data;
}

async function pages<N>(
  url: string,
  apiKey: string,
  query: string,
  field: string,
  date: string | undefined,
  o: Options,
): Promise<{ nodes: N[]; truncated: boolean }> {
  const nodes: N[] = [];
  let after: string | null = null;
  for (let n = 0; n < o.maxPages; n++) {
    const data = await post(url, apiKey, query, { date: date ?? null, first: o.pageSize, after }, o);
    const page = data[field];
    if (!isPage(page)) throw new GatewayError(`gateway ${endpointOf(url)}: ${field} is not a page of nodes`, 'bad-response', endpointOf(url));
    nodes.push(...(page.nodes as N[]));
    if (!page.pageInfo.hasNextPage) return { nodes, truncated: false };
    if (!page.pageInfo.endCursor || page.pageInfo.endCursor === after) {
      throw new GatewayError(`gateway ${endpointOf(url)}: ${field} says there is a next page but gives no new cursor`, 'bad-response', endpointOf(url));
    }
    after = page.pageInfo.endCursor;
  }
  return { nodes, truncated: true };
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n);

/** Runners with an id; the number is the cloth number, or the trap number for greyhounds. */
function competitorsOf(e: EventNode): DayCardCompetitor[] {
  return (e.eventCompetitors?.nodes ?? []).flatMap((c) => {
    if (!c || typeof c.id !== 'string') return [];
    const d = c.details;
    const number = isCount(d?.clothNumber) ? d.clothNumber : isCount(d?.trapNumber) ? d.trapNumber : null;
    return [{ id: c.id, name: c.name ?? '', number }];
  });
}

function selectionsOf(p: ProductNode): DayCardSelection[] {
  return (p.legs ?? []).flatMap((l) =>
    (l.selections ?? []).flatMap((s) =>
      s && typeof s.id === 'string' && typeof s.competitor?.id === 'string' ? [{ id: s.id, competitorId: s.competitor.id }] : [],
    ),
  );
}

/** The day's events and products; `date` is YYYY-MM-DD, omitted for today. */
export async function fetchDayCard(url: string, apiKey: string, date?: string, opts: FetchDayCardOptions = {}): Promise<DayCard> {
  const o: Options = {
    timeoutMs: opts.timeoutMs ?? DEFAULTS.timeoutMs,
    pageSize: opts.pageSize ?? DEFAULTS.pageSize,
    maxPages: opts.maxPages ?? DEFAULTS.maxPages,
    maxCompetitorsPerEvent: opts.maxCompetitorsPerEvent ?? DEFAULTS.maxCompetitorsPerEvent,
    maxSelectionsPerProduct: opts.maxSelectionsPerProduct ?? DEFAULTS.maxSelectionsPerProduct,
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  const events = await pages<EventNode>(url, apiKey, DAY_CARD_EVENTS_QUERY, 'events', date, o);
  const products = await pages<ProductNode>(url, apiKey, DAY_CARD_PRODUCTS_QUERY, 'products', date, o);
  let cut = false;
  const capped = <T>(items: T[], max: number): T[] => {
    if (items.length <= max) return items;
    cut = true;
    return items.slice(0, max);
  };
  return {
    events: events.nodes.map((e) => ({
      id: e.id,
      name: e.name,
      venue: e.venue?.name ?? '',
      scheduledStart: e.scheduledStartDateTime?.iso8601 ?? '',
      status: e.status,
      competitors: capped(competitorsOf(e), o.maxCompetitorsPerEvent),
    })),
    products: products.nodes.map((p) => ({
      id: p.id,
      name: p.name,
      betType: p.type?.code ?? '',
      eventIds: (p.legs ?? []).flatMap((l) => (l.event ? [l.event.id] : [])),
      status: p.selling?.status ?? '',
      selections: capped(selectionsOf(p), o.maxSelectionsPerProduct),
    })),
    truncated: events.truncated || products.truncated || cut,
  };
}
