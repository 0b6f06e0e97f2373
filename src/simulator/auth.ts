/**
 * API-key check "the way Tote does": `Authorization: Api-Key <key>` or
 * `Bearer <key>`, on the HTTP upgrade or in the connection_init payload's
 * `authorization` field (Tote's sample sends both). The scheme is
 * case-insensitive; "Api-Key<key>" without the space (a typo in Tote's C#
 * sample) is rejected, so a client carrying it fails here rather than in
 * production.
 */
const SCHEME = /^(?:api-key|bearer)\s+(\S+)\s*$/i;

export function keyFrom(authorization: unknown): string | undefined {
  if (typeof authorization !== 'string') return undefined;
  return SCHEME.exec(authorization.trim())?.[1];
}

export class KeyCheck {
  private readonly keys: ReadonlySet<string>;
  constructor(keys: readonly string[]) {
    this.keys = new Set(keys.filter((k) => k.length > 0));
  }

  /** True when any of the given Authorization values carries an accepted key. */
  accepts(...authorizations: unknown[]): boolean {
    return authorizations.some((a) => {
      const key = keyFrom(a);
      return key !== undefined && this.keys.has(key);
    });
  }
}

/** The `authorization` field of a connection_init payload, in either casing. */
export function initAuthorization(payload: unknown): unknown {
  if (!payload || typeof payload !== 'object') return undefined;
  const p = payload as Record<string, unknown>;
  return p.authorization ?? p.Authorization;
}
