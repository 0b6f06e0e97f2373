/**
 * How a Tote socket can end, and the one decision of how to come back after it.
 */

/** Close codes a Tote socket may end with: RFC 6455's, and those of the GraphQL-over-WebSocket servers. */
export enum CloseCode {
  Normal = 1000,
  GoingAway = 1001,
  ProtocolError = 1002,
  /** No close frame: the TCP connection was lost or refused. */
  Abnormal = 1006,
  TooBig = 1009,
  InternalError = 1011,
  TryAgainLater = 1013,
  BadRequest = 4400,
  Unauthorized = 4401,
  Forbidden = 4403,
  SubprotocolNotAcceptable = 4406,
  ConnectionInitialisationTimeout = 4408,
  TooManyInitialisationRequests = 4429,
  InternalServerError = 4500,
}

const CLOSE_TEXT: Readonly<Record<number, string>> = {
  [CloseCode.Normal]: 'normal closure',
  [CloseCode.GoingAway]: 'server going away',
  [CloseCode.ProtocolError]: 'protocol error',
  [CloseCode.Abnormal]: 'connection lost without a close frame',
  [CloseCode.TooBig]: 'frame too large',
  [CloseCode.InternalError]: 'server error',
  [CloseCode.TryAgainLater]: 'server overloaded, try again later',
  [CloseCode.BadRequest]: 'bad request (protocol error)',
  [CloseCode.Unauthorized]: 'unauthorized (API key rejected)',
  [CloseCode.Forbidden]: 'forbidden (API key rejected)',
  [CloseCode.SubprotocolNotAcceptable]: 'subprotocol not acceptable',
  [CloseCode.ConnectionInitialisationTimeout]: 'connection initialisation timeout',
  [CloseCode.TooManyInitialisationRequests]: 'too many initialisation requests',
  [CloseCode.InternalServerError]: 'internal server error',
};

/** `auth`: retry slowly (TOTE_AUTH_RETRY_MS); `retry`: full-jitter backoff from TOTE_RECONNECT_MIN_MS. */
export type CloseClass = 'auth' | 'retry';

/** Why a connection attempt or a socket ended, as the retry decision needs it. */
export type SocketEnd =
  | { readonly kind: 'closed'; readonly code: number; readonly httpStatus?: number }
  | { readonly kind: 'connection-error'; readonly payload: unknown }
  /** No subscriptions URL or API key: only an operator can fix that. */
  | { readonly kind: 'unconfigured' }
  /** Anything on our side of the wire: no ack in time, silence, an unreadable secret, a socket that cannot open. */
  | { readonly kind: 'fault' };

/** extensions.code values that servers use for a refused credential (HotChocolate, Apollo, and common gateways). */
const AUTH_CODES =
  /^(AUTH_NOT_AUTHENTICATED|AUTH_NOT_AUTHORIZED|AUTH_NOT_ALLOWED|UNAUTHENTICATED|UNAUTHORIZED|FORBIDDEN|ACCESS_DENIED|INVALID_API_KEY)$/i;
const AUTH_WORDS =
  /\b(api[ -]?key|unauthori[sz]ed|unauthenticated|not authenticated|not authori[sz]ed|forbidden|access denied|credentials?)\b/i;

/** True when a connection_error payload says the key was refused, by its code or, failing that, its words. */
export function isAuthFailure(payload: unknown): boolean {
  const first = Array.isArray(payload) ? payload[0] : payload;
  if (typeof first === 'string') return AUTH_WORDS.test(first);
  if (!first || typeof first !== 'object') return false;
  const { message, extensions } = first as { message?: unknown; extensions?: unknown };
  const code = extensions && typeof extensions === 'object' ? (extensions as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && AUTH_CODES.test(code)) return true;
  return typeof message === 'string' && AUTH_WORDS.test(message);
}

/**
 * The one place that decides how to come back after the Tote socket ends.
 * Nothing is fatal: an all-day feed must never give up on its own, and /stop
 * is how an operator ends it. Only a refusal of the credential is retried
 * slowly, because it will not fix itself within seconds and hammering the
 * gateway with a bad key helps nobody (and may get the key blocked). Every
 * other end, a connection_error that is not about the key included (a server
 * that is starting, overloaded or failing its init hook), is retried with
 * backoff, since that is what recovers by itself.
 */
export function retryClass(end: SocketEnd): CloseClass {
  switch (end.kind) {
    case 'closed':
      if (end.httpStatus === 401 || end.httpStatus === 403) return 'auth';
      // 4401/4403: graphql-transport-ws and common servers refusing the key. 4400 (bad request),
      // 4500 (server error), 1006 (lost), 1009 (frame too big), 1000 (server ended the session,
      // e.g. a deploy): reconnect with backoff.
      return end.code === CloseCode.Unauthorized || end.code === CloseCode.Forbidden ? 'auth' : 'retry';
    case 'connection-error':
      return isAuthFailure(end.payload) ? 'auth' : 'retry';
    case 'unconfigured':
      return 'auth';
    case 'fault':
      return 'retry';
  }
}

/** The decision for a socket that closed; kept for callers that have only the code. */
export function classifyClose(code: number, httpStatus?: number): CloseClass {
  return retryClass({ kind: 'closed', code, ...(httpStatus === undefined ? {} : { httpStatus }) });
}

/** Human text for a close code in /status and logs. */
export function describeClose(code: number, reason: string): string {
  const what = CLOSE_TEXT[code] ?? 'closed';
  return reason ? `${code} ${what}: ${reason.slice(0, 200)}` : `${code} ${what}`;
}
