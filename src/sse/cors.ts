/** Allowed-origin check for cross-origin dashboards; same-origin pages need none of it. */
export function corsHeaders(origins: readonly string[], origin: string | undefined): Record<string, string> {
  if (!origin || origins.length === 0) return {};
  if (origins.includes('*')) return { 'Access-Control-Allow-Origin': '*' };
  if (origins.includes(origin)) return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
  return {};
}
