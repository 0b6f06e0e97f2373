import { CloseCode } from 'graphql-ws';

export type CloseClass = 'auth' | 'retry';

/**
 * The one place that decides how to come back after the Tote socket ends.
 * Everything is retried (an all-day feed must never give up), but a rejected
 * key is retried slowly: it will not fix itself within seconds and hammering
 * the gateway with a bad key helps nobody.
 */
export function classifyClose(code: number, httpStatus?: number): CloseClass {
  if (httpStatus === 401 || httpStatus === 403) return 'auth';
  // 4401 Unauthorized, 4403 Forbidden (graphql-transport-ws and common servers).
  if (code === CloseCode.Unauthorized || code === CloseCode.Forbidden) return 'auth';
  // Everything else, including 4400 (bad request), 4500 (server error), 1006
  // (abnormal close), 1009 (frame too big) and 1000 (server ended the
  // session, e.g. a deploy): reconnect with backoff.
  return 'retry';
}

/** Human text for a close code in /status and logs. */
export function describeClose(code: number, reason: string): string {
  const known: Record<number, string> = {
    1000: 'normal closure',
    1001: 'server going away',
    1006: 'connection lost without a close frame',
    1009: 'frame too large',
    1011: 'server error',
    4400: 'bad request (protocol error)',
    4401: 'unauthorized (API key rejected)',
    4403: 'forbidden (API key rejected)',
    4406: 'subprotocol not acceptable',
    4408: 'connection initialisation timeout',
    4429: 'too many initialisation requests',
    4500: 'internal server error',
  };
  const what = known[code] ?? 'closed';
  return reason ? `${code} ${what}: ${reason.slice(0, 200)}` : `${code} ${what}`;
}
