import type { EnvReader } from './env.js';

/** Who may read /events, /snapshot and /names. */
export type SseAccessMode = 'public' | 'token' | 'iap';

export interface SseAccessConfig {
  mode: SseAccessMode;
  /** Shared secret for HS256 tokens; never logged or shown. */
  secret: string | undefined;
  /** Where the public keys of RS256/ES256 tokens are published (JWKS). */
  jwksUrl: string | undefined;
  /** Signature algorithms accepted; anything else is refused whatever the key. */
  algorithms: string[];
  issuer: string | undefined;
  audience: string | undefined;
  /** Tokens without an expiry are refused. */
  requireExp: boolean;
  clockToleranceS: number;
  /** Where a browser's token is looked for besides `Authorization: Bearer`. */
  cookieName: string;
  queryParam: string;
  /** Dotted path of the claim listing the message types a token may read; absent = every type. */
  typesClaim: string;
  /** Header that carries the identity-aware proxy's signed assertion (mode iap). */
  iapHeader: string;
}

/** Google's identity-aware proxy signs its assertion with ES256 keys published here. */
export const IAP_JWKS_URL = 'https://www.gstatic.com/iap/verify/public_key-jwk';
export const IAP_ISSUER = 'https://cloud.google.com/iap';

const HS_MIN_SECRET_BYTES = 32;

export function readSseAccessConfig(r: EnvReader): SseAccessConfig {
  // Public by default: locally there is nothing to protect, and turning it on is a deliberate choice.
  const mode = r.oneOf<SseAccessMode>('SSE_ACCESS', 'public', ['public', 'token', 'iap']);
  const secret = r.optionalStr('SSE_ACCESS_JWT_SECRET');
  const jwksUrl = r.optionalStr('SSE_ACCESS_JWKS_URL') ?? (mode === 'iap' ? IAP_JWKS_URL : undefined);
  if (secret !== undefined) {
    if (secret.startsWith('sm://')) {
      r.fail('SSE_ACCESS_JWT_SECRET takes the secret itself: in Cloud Run, map the Secret Manager secret to this variable');
    } else if (Buffer.byteLength(secret) < HS_MIN_SECRET_BYTES) {
      r.fail(`SSE_ACCESS_JWT_SECRET must be at least ${HS_MIN_SECRET_BYTES} bytes (HS256 needs a 256-bit key)`);
    }
  }
  if (jwksUrl !== undefined) {
    try {
      const u = new URL(jwksUrl);
      const loopback = u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';
      if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback))
        r.fail('SSE_ACCESS_JWKS_URL must use https (http only on loopback)');
    } catch {
      r.fail('SSE_ACCESS_JWKS_URL is not a valid URL');
    }
  }
  if (mode === 'token' && secret === undefined && jwksUrl === undefined) {
    r.fail('SSE_ACCESS=token needs SSE_ACCESS_JWT_SECRET (HS256) or SSE_ACCESS_JWKS_URL (RS256/ES256)');
  }
  const defaultAlgorithms = mode === 'iap' ? ['ES256'] : [...(secret ? ['HS256'] : []), ...(jwksUrl ? ['RS256', 'ES256'] : [])];
  const algorithms = r.list('SSE_ACCESS_ALGORITHMS', defaultAlgorithms);
  const known = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
  for (const a of algorithms)
    if (!known.includes(a)) r.fail(`SSE_ACCESS_ALGORITHMS: unknown algorithm "${a}" (known: ${known.join(', ')})`);
  if (algorithms.some((a) => a.startsWith('HS')) && secret === undefined && mode !== 'public') {
    r.fail('SSE_ACCESS_ALGORITHMS allows HS* but SSE_ACCESS_JWT_SECRET is not set');
  }
  const audience = r.optionalStr('SSE_ACCESS_AUDIENCE');
  // IAP's audience names the one backend it fronts; without the check, an assertion made for another service would pass.
  if (mode === 'iap' && audience === undefined) {
    r.fail('SSE_ACCESS=iap needs SSE_ACCESS_AUDIENCE (/projects/NUMBER/locations/REGION/services/NAME for Cloud Run)');
  }
  return {
    mode,
    secret,
    jwksUrl,
    algorithms,
    issuer: r.optionalStr('SSE_ACCESS_ISSUER') ?? (mode === 'iap' ? IAP_ISSUER : undefined),
    audience,
    // A token that never expires cannot be taken back short of rotating the key for everyone.
    requireExp: r.bool('SSE_ACCESS_REQUIRE_EXP', true),
    // Clocks of the issuer and Cloud Run agree to well within this.
    clockToleranceS: r.int('SSE_ACCESS_CLOCK_TOLERANCE_S', 30, 0, 600),
    // Mercure's convention (mercureAuthorization), with our name; the issuer sets it HttpOnly on this host.
    cookieName: r.str('SSE_ACCESS_COOKIE', 'toteAuthorization'),
    // EventSource cannot send headers, and a cookie needs the same site: the query parameter is the fallback.
    queryParam: r.str('SSE_ACCESS_QUERY_PARAM', 'authorization'),
    // Namespaced like Mercure's mercure.subscribe, so it cannot clash with an identity provider's own claims.
    typesClaim: r.str('SSE_ACCESS_TYPES_CLAIM', 'tote.types'),
    iapHeader: 'x-goog-iap-jwt-assertion',
  };
}
