/**
 * Allowed-origin check for cross-origin dashboards; same-origin pages need
 * none of it. With `credentials` (the stream is behind a token that a cookie
 * may carry) a listed origin is also allowed to send its cookies; browsers
 * never send them to a wildcard origin, so "*" stays without.
 */
export function corsHeaders(origins: readonly string[], origin: string | undefined, credentials = false): Record<string, string> {
  if (!origin || origins.length === 0) return {};
  if (origins.includes('*')) return { 'Access-Control-Allow-Origin': '*' };
  if (origins.includes(origin)) {
    return {
      'Access-Control-Allow-Origin': origin,
      Vary: 'Origin',
      ...(credentials ? { 'Access-Control-Allow-Credentials': 'true' } : {}),
    };
  }
  return {};
}
