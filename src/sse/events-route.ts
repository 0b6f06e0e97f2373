import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery, type ParsedUrlQuery } from 'node:querystring';
import type { Logger } from '../log/logger.js';
import { corsHeaders } from './cors.js';
import { FilterError, parseFilter } from './filter.js';
import { SSE_HEADERS } from './headers.js';
import type { Hub } from './hub.js';

export interface EventsRouteDeps {
  readonly hub: Hub;
  readonly corsOrigins: readonly string[];
  readonly log: Logger;
}

/** Ids are UUIDs (36 characters); anything much longer is not ours and is not looked up. */
const MAX_LAST_EVENT_ID = 100;

function lastEventIdOf(req: IncomingMessage, query: ParsedUrlQuery): string | undefined {
  // The header wins: EventSource sends it on every reconnect, while the query
  // parameter (for the first request, which cannot carry headers) stays in
  // the URL and would be stale.
  const header = req.headers['last-event-id'];
  const fromQuery = typeof query.lastEventId === 'string' ? query.lastEventId : undefined;
  const id = (typeof header === 'string' ? header : fromQuery)?.trim();
  if (!id) return undefined;
  return id.slice(0, MAX_LAST_EVENT_ID);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * GET and HEAD /events on plain node:http, ahead of Express. A stream holds
 * its request and response for up to an hour, and once Express has dressed
 * them (its own request and response prototypes) each pair carries private
 * hidden classes and dictionary properties: about 5 KB of heap and 10 KB of
 * RSS per open stream, twice what a bare stream costs (npm run bench -- sse).
 * Everything else, CORS preflights for this path included, stays in Express.
 *
 * Returns false for any request that is not this route's.
 */
export function eventsRoute(deps: EventsRouteDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = (q < 0 ? url : url.slice(0, q)).toLowerCase();
    // Express routing is case-insensitive and not strict about a trailing slash; so is this.
    if (path !== '/events' && path !== '/events/') return false;
    const cors = corsHeaders(deps.corsOrigins, req.headers.origin);
    try {
      // The same parser as Express's default ("simple"): repeated parameters become arrays.
      const query = parseQuery(q < 0 ? '' : url.slice(q + 1));
      const filter = parseFilter(query);
      if (req.method === 'HEAD') {
        // A probe, not a viewer: answer the headers without registering a stream.
        res.writeHead(200, { ...SSE_HEADERS, ...cors }).end();
        return true;
      }
      deps.hub.open(req, res, filter, lastEventIdOf(req, query), cors);
    } catch (err) {
      if (err instanceof FilterError) {
        sendJson(res, 400, { error: err.message }, cors);
        return true;
      }
      deps.log.error('request failed', { err, path: '/events' });
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { error: 'internal error' }, cors);
    }
    return true;
  };
}
