/**
 * Reading and validating environment variables. Each section module
 * (tote.ts, bus.ts, history.ts, ...) declares its options with a default and
 * a one-line reason beside it; the reader collects every problem so that a
 * bad start names all the variables at once.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super('Invalid configuration:\n  - ' + problems.join('\n  - '));
    this.name = 'ConfigError';
  }
}

export class EnvReader {
  readonly problems: string[] = [];
  constructor(readonly env: Env) {}

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  str(name: string, def: string): string {
    return this.raw(name) ?? def;
  }

  optionalStr(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, def: number, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.raw(name);
    if (v === undefined) return def;
    if (!/^-?\d+$/.test(v)) {
      this.problems.push(`${name} must be a whole number, got "${v}"`);
      return def;
    }
    const n = Number(v);
    if (n < min || n > max) {
      this.problems.push(`${name} must be between ${min} and ${max}, got ${n}`);
      return def;
    }
    return n;
  }

  num(name: string, def: number, min = -Infinity, max = Infinity): number {
    const v = this.raw(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n)) {
      this.problems.push(`${name} must be a number, got "${v}"`);
      return def;
    }
    if (n < min || n > max) {
      this.problems.push(`${name} must be between ${min} and ${max}, got ${n}`);
      return def;
    }
    return n;
  }

  bool(name: string, def: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return def;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problems.push(`${name} must be true or false, got "${v}"`);
    return def;
  }

  oneOf<T extends string>(name: string, def: T, allowed: readonly T[]): T {
    const v = this.raw(name);
    if (v === undefined) return def;
    if (!(allowed as readonly string[]).includes(v)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${v}"`);
      return def;
    }
    return v as T;
  }

  /** Comma-separated list; empty entries ignored. */
  list(name: string, def: readonly string[]): string[] {
    const v = this.raw(name);
    if (v === undefined) return [...def];
    return v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }

  /**
   * A URL, or a Secret Manager reference (sm://projects/P/secrets/S/versions/V)
   * that is resolved later. Values are never echoed in problems: they may be secret.
   */
  urlOrSecretRef(name: string, protocols: readonly string[]): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (v.startsWith('sm://')) {
      if (!SECRET_REF.test(v)) this.problems.push(`${name} is not a valid Secret Manager reference (sm://projects/P/secrets/S/versions/V)`);
      return v;
    }
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) {
        this.problems.push(`${name} must use ${protocols.join(' or ')}, got ${u.protocol}`);
      }
    } catch {
      this.problems.push(`${name} is not a valid URL`);
    }
    return v;
  }

  /** A secret value or a Secret Manager reference; checked for shape only, never echoed. */
  secret(name: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (v.startsWith('sm://') && !SECRET_REF.test(v)) {
      this.problems.push(`${name} is not a valid Secret Manager reference (sm://projects/P/secrets/S/versions/V)`);
    }
    return v;
  }

  fail(problem: string): void {
    this.problems.push(problem);
  }
}

export const SECRET_REF = /^sm:\/\/projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/]+$/;
