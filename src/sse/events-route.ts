import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery, type ParsedUrlQuery } from 'node:querystring';
import type { Logger } from '../log/logger.js';
import { refusalHeaders, type StreamAccess } from './access.js';
import { corsHeaders } from './cors.js';
import { FilterError, parseFilter, type StreamFilter } from './filter.js';
import { SSE_HEADERS } from './headers.js';
import type { Hub } from './hub.js';
import type { SseClient } from './client.js';

export interface EventsRouteDeps {
  readonly hub: Hub;
  readonly corsOrigins: readonly string[];
  readonly log: Logger;
  readonly access: StreamAccess;
}

/** setTimeout fires at once past this; a later expiry is waited for in steps. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** Ends the stream when its token expires; EventSource then reconnects and must bring a fresh one. */
function endAtExpiry(client: SseClient, res: ServerResponse, expiresAt: number): void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = expiresAt - Date.now();
    if (left <= 0) {
      client.end('lifetime');
      return;
    }
    timer = setTimeout(arm, Math.min(left, LONGEST_TIMER_MS));
    timer.unref();
  };
  arm();
  res.once('close', () => clearTimeout(timer));
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
    const cors = corsHeaders(deps.corsOrigins, req.headers.origin, deps.access.usesCookies);
    const failed = (err: unknown) => {
      if (err instanceof FilterError) {
        sendJson(res, 400, { error: err.message }, cors);
        return;
      }
      deps.log.error('request failed', { err, path: '/events' });
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { error: 'internal error' }, cors);
    };
    const serve = (filter: StreamFilter, query: ParsedUrlQuery, expiresAt: number | null) => {
      if (req.method === 'HEAD') {
        // A probe, not a viewer: answer the headers without registering a stream.
        res.writeHead(200, { ...SSE_HEADERS, ...cors }).end();
        return;
      }
      const client = deps.hub.open(req, res, filter, lastEventIdOf(req, query), cors);
      if (client && expiresAt !== null) endAtExpiry(client, res, expiresAt);
    };
    try {
      // The same parser as Express's default ("simple"): repeated parameters become arrays.
      const query = parseQuery(q < 0 ? '' : url.slice(q + 1));
      const filter = parseFilter(query);
      if (!deps.access.enabled) {
        serve(filter, query, null);
        return true;
      }
      deps.access
        .check(req, query, filter.types)
        .then((grant) => {
          if (!grant.ok) {
            sendJson(res, grant.status, { error: grant.error }, { ...cors, ...refusalHeaders(grant) });
            return;
          }
          // The browser may have gone while the token was checked (a JWKS fetch takes a while).
          if (res.destroyed) return;
          serve(filter.types || !grant.types ? filter : { ...filter, types: grant.types }, query, grant.expiresAt);
        })
        .catch(failed);
    } catch (err) {
      failed(err);
    }
    return true;
  };
}
