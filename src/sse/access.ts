import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { Counter, Registry } from 'prom-client';
import { MESSAGE_TYPES } from '../catalog/catalog.js';
import type { SseAccessConfig, SseAccessMode } from '../config/sse-access.js';
import type { Logger } from '../log/logger.js';

/** What a request may read. `types` null = every message type. */
export type Grant =
  | { readonly ok: true; readonly types: ReadonlySet<string> | null; readonly expiresAt: number | null }
  | { readonly ok: false; readonly status: 401 | 403; readonly reason: RefusalReason; readonly error: string };

export type RefusalReason = 'missing' | 'invalid' | 'expired' | 'forbidden';

/** GET /status: how access is decided and how often it said no. Never a key or a token. */
export interface AccessStatus {
  readonly mode: SseAccessMode;
  readonly algorithms: readonly string[];
  readonly jwksUrl: string | null;
  readonly issuer: string | null;
  readonly audience: string | null;
  readonly typesClaim: string | null;
  readonly granted: number;
  readonly refused: Readonly<Record<RefusalReason, number>>;
}

const EVERYTHING: Grant = Object.freeze({ ok: true, types: null, expiresAt: null });
const KNOWN_TYPES = new Set(MESSAGE_TYPES);
/** A token longer than this is not one we issued: not even parsed. */
const MAX_TOKEN_LENGTH = 8_192;

/**
 * Subscriber authorization for the SSE service, as Mercure and Centrifugo do
 * it: a JWT signed with a shared HS256 secret or with a key published at a
 * JWKS URL (RS256/ES256), looked for in `Authorization: Bearer`, then the
 * access cookie, then the query parameter (EventSource can send neither
 * headers nor, across sites, cookies). The signature, the algorithm (from an
 * allow-list, so a token cannot choose its own), `exp`/`nbf`, and the issuer
 * and audience when configured are checked by jose; the types claim may
 * narrow the message types the holder reads. Mode `iap`: the identity-aware
 * proxy in front has authenticated the user, and its signed assertion header
 * is verified so that a request which bypassed the proxy is refused.
 *
 * Keys from a JWKS URL are cached by jose and refetched when a token names an
 * unknown key id (at most every 30 s), so a rotation needs no restart.
 */
export class StreamAccess {
  private readonly getKey: JWTVerifyGetKey | undefined;
  private readonly secret: Uint8Array | undefined;
  private readonly counts = { granted: 0, refused: { missing: 0, invalid: 0, expired: 0, forbidden: 0 } };
  readonly metricsRegistry = new Registry();
  private readonly refusals: Counter<'reason'>;

  constructor(
    private readonly cfg: SseAccessConfig,
    private readonly log: Logger,
  ) {
    this.secret = cfg.secret === undefined ? undefined : new TextEncoder().encode(cfg.secret);
    this.getKey =
      cfg.jwksUrl === undefined
        ? undefined
        : createRemoteJWKSet(new URL(cfg.jwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
    this.refusals = new Counter({
      name: 'sse_access_refused_total',
      help: 'Requests to /events, /snapshot or /names refused for want of a valid token, by reason',
      labelNames: ['reason'],
      registers: [this.metricsRegistry],
    });
  }

  get enabled(): boolean {
    return this.cfg.mode !== 'public';
  }

  /** Cookies must be allowed across origins for a cookie-carried token to reach a cross-origin stream. */
  get usesCookies(): boolean {
    return this.cfg.mode === 'token';
  }

  /**
   * What the request may read; `wanted` (the `types` it asked for, or null)
   * must lie within what the token allows, or the answer is 403 naming the
   * types refused.
   */
  async check(req: IncomingMessage, query: Record<string, unknown>, wanted: ReadonlySet<string> | null = null): Promise<Grant> {
    if (!this.enabled) return EVERYTHING;
    const grant = await this.verify(req, query);
    if (grant.ok && wanted && grant.types) {
      const refused = [...wanted].filter((t) => !grant.types!.has(t));
      if (refused.length) return this.refuse(403, 'forbidden', `this token does not allow ${refused.slice(0, 5).join(', ')}`);
    }
    if (grant.ok) this.counts.granted++;
    return grant;
  }

  status(): AccessStatus {
    const on = this.enabled;
    return {
      mode: this.cfg.mode,
      algorithms: on ? this.cfg.algorithms : [],
      jwksUrl: on ? (this.cfg.jwksUrl ?? null) : null,
      issuer: on ? (this.cfg.issuer ?? null) : null,
      audience: on ? (this.cfg.audience ?? null) : null,
      typesClaim: on && this.cfg.mode === 'token' ? this.cfg.typesClaim : null,
      granted: this.counts.granted,
      refused: { ...this.counts.refused },
    };
  }

  private tokenOf(req: IncomingMessage, query: Record<string, unknown>): string | undefined {
    if (this.cfg.mode === 'iap') {
      const h = req.headers[this.cfg.iapHeader];
      return typeof h === 'string' ? h : undefined;
    }
    const auth = req.headers.authorization;
    if (typeof auth === 'string') {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (m) return m[1];
    }
    const fromCookie = cookie(req.headers.cookie, this.cfg.cookieName);
    if (fromCookie) return fromCookie;
    const q = query[this.cfg.queryParam];
    return typeof q === 'string' && q ? q : undefined;
  }

  private async verify(req: IncomingMessage, query: Record<string, unknown>): Promise<Grant> {
    const token = this.tokenOf(req, query);
    if (!token) {
      const where =
        this.cfg.mode === 'iap'
          ? `the ${this.cfg.iapHeader} header (is the identity-aware proxy in front?)`
          : `an Authorization: Bearer header, the ${this.cfg.cookieName} cookie or the ${this.cfg.queryParam} query parameter`;
      return this.refuse(401, 'missing', `a token is required in ${where}`);
    }
    if (token.length > MAX_TOKEN_LENGTH) return this.refuse(401, 'invalid', 'token too long');
    let payload: JWTPayload;
    try {
      const options = {
        algorithms: this.cfg.algorithms,
        clockTolerance: this.cfg.clockToleranceS,
        ...(this.cfg.issuer !== undefined ? { issuer: this.cfg.issuer } : {}),
        ...(this.cfg.audience !== undefined ? { audience: this.cfg.audience } : {}),
        ...(this.cfg.requireExp ? { requiredClaims: ['exp'] } : {}),
      };
      const secret = this.secret;
      const jwks = this.getKey;
      // The key follows the algorithm the allow-list let through: a shared secret never checks an RS/ES token.
      const key: JWTVerifyGetKey = async (header, jws) => {
        if (header.alg?.startsWith('HS')) {
          if (!secret) throw new Error('HMAC tokens are not accepted here');
          return secret;
        }
        if (!jwks) throw new Error('no JWKS URL is configured for public-key tokens');
        return jwks(header, jws);
      };
      ({ payload } = await jwtVerify(token, key, options));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') return this.refuse(401, 'expired', 'token expired');
      if (code === 'ERR_JWKS_TIMEOUT' || (err as Error).name === 'TypeError') {
        // The key server did not answer: not the holder's fault, but no key means no check.
        this.log.warn('could not fetch the access keys', { jwksUrl: this.cfg.jwksUrl, error: (err as Error).message });
      }
      return this.refuse(401, 'invalid', `invalid token: ${describe(code)}`);
    }
    const types = this.cfg.mode === 'token' ? typesFrom(claimAt(payload, this.cfg.typesClaim)) : null;
    if (types === 'malformed') return this.refuse(401, 'invalid', `invalid token: ${this.cfg.typesClaim} must be a list of message types`);
    // The same allowance as the check: a stream ends when a reconnect with its token would be refused.
    return { ok: true, types, expiresAt: typeof payload.exp === 'number' ? (payload.exp + this.cfg.clockToleranceS) * 1000 : null };
  }

  private refuse(status: 401 | 403, reason: RefusalReason, error: string): Grant {
    this.counts.refused[reason]++;
    this.refusals.inc({ reason });
    return { ok: false, status, reason, error };
  }
}

/** The answer to a refused request: RFC 6750's challenge, so a client can tell a missing token from a bad one. */
export function refusalHeaders(g: Extract<Grant, { ok: false }>): Record<string, string> {
  const error = g.status === 403 ? 'insufficient_scope' : g.reason === 'missing' ? undefined : 'invalid_token';
  const desc = g.error.replace(/["\\]/g, '');
  return {
    'WWW-Authenticate': `Bearer realm="tote-sse"${error ? `, error="${error}", error_description="${desc}"` : ''}`,
    'Cache-Control': 'no-store',
  };
}

function describe(code: string | undefined): string {
  switch (code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'signature does not verify';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'signing algorithm not accepted';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return 'a claim does not hold (issuer, audience, not-before or a required claim)';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'signed with a key that is not published';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'not a well-formed JWT';
    default:
      return 'could not be verified';
  }
}

function claimAt(payload: JWTPayload, path: string): unknown {
  let v: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Absent or containing "*": every type. Types this version does not know are ignored (a newer issuer may name them). */
function typesFrom(claim: unknown): ReadonlySet<string> | null | 'malformed' {
  if (claim === undefined) return null;
  if (!Array.isArray(claim) || claim.some((t) => typeof t !== 'string')) return 'malformed';
  if (claim.includes('*')) return null;
  return new Set((claim as string[]).filter((t) => KNOWN_TYPES.has(t)));
}

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const raw = part
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}
