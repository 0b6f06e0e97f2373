/**
 * Client for Tote's query gateway, used for names: the day's events and
 * products (the subscription messages carry ids only).
 *
 * It pages through both lists with cursors, at most `maxPages` pages each (a
 * card larger than that comes back with `truncated: true` rather than never
 * finishing), each request bounded by `timeoutMs`. The key travels only in the
 * `Authorization: Api-Key <key>` header; errors never contain it.
 *
 * The exact queries sent are DAY_CARD_EVENTS_QUERY and DAY_CARD_PRODUCTS_QUERY.
 */

export interface DayCardEvent {
  id: string;
  name: string;
  venue: string;
  /** ISO 8601. */
  scheduledStart: string;
  status: string;
}

export interface DayCardProduct {
  id: string;
  name: string;
  betType: string;
  eventIds: string[];
  status: string;
}

export interface DayCard {
  events: DayCardEvent[];
  products: DayCardProduct[];
  /** True when a list had more pages than maxPages allows. */
  truncated: boolean;
}

export interface FetchDayCardOptions {
  /** Per request. @default 10000 */
  timeoutMs?: number;
  /** Items per page; Tote allows at most 250. @default 250 */
  pageSize?: number;
  /** Pages per list before giving up with truncated: true. @default 20 */
  maxPages?: number;
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
    nodes { id name status scheduledStartDateTime { iso8601 } venue { name } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const DAY_CARD_PRODUCTS_QUERY = `query DayCardProducts($date: String, $first: Int, $after: String) {
  products(date: $date, first: $first, after: $after) {
    nodes { id name type { code } legs { event { id } } selling { status } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const DEFAULTS = { timeoutMs: 10_000, pageSize: 250, maxPages: 20 };

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
}

interface ProductNode {
  id: string;
  name: string;
  type: { code: string } | null;
  legs: { event: { id: string } | null }[] | null;
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
  o: Required<Omit<FetchDayCardOptions, 'signal'>> & { signal?: AbortSignal },
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
  o: Required<Omit<FetchDayCardOptions, 'signal'>> & { signal?: AbortSignal },
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

/** The day's events and products; `date` is YYYY-MM-DD, omitted for today. */
export async function fetchDayCard(url: string, apiKey: string, date?: string, opts: FetchDayCardOptions = {}): Promise<DayCard> {
  const o = {
    timeoutMs: opts.timeoutMs ?? DEFAULTS.timeoutMs,
    pageSize: opts.pageSize ?? DEFAULTS.pageSize,
    maxPages: opts.maxPages ?? DEFAULTS.maxPages,
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  const events = await pages<EventNode>(url, apiKey, DAY_CARD_EVENTS_QUERY, 'events', date, o);
  const products = await pages<ProductNode>(url, apiKey, DAY_CARD_PRODUCTS_QUERY, 'products', date, o);
  return {
    events: events.nodes.map((e) => ({
      id: e.id,
      name: e.name,
      venue: e.venue?.name ?? '',
      scheduledStart: e.scheduledStartDateTime?.iso8601 ?? '',
      status: e.status,
    })),
    products: products.nodes.map((p) => ({
      id: p.id,
      name: p.name,
      betType: p.type?.code ?? '',
      eventIds: (p.legs ?? []).flatMap((l) => (l.event ? [l.event.id] : [])),
      status: p.selling?.status ?? '',
    })),
    truncated: events.truncated || products.truncated,
  };
}
