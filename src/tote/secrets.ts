import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { registerSecret } from '../log/logger.js';

/**
 * Resolves a configuration value that may be a Secret Manager reference
 * (sm://projects/P/secrets/S/versions/V). Resolution happens at each connect,
 * so a rotated key is picked up by the next reconnect without a redeploy.
 * Every resolved value is registered with the logger's redaction.
 */
let client: SecretManagerServiceClient | undefined;

export class SecretResolutionError extends Error {
  constructor(
    readonly reference: string,
    cause: unknown,
  ) {
    // The reference names the secret, never its value.
    super(`could not read ${reference} from Secret Manager: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'SecretResolutionError';
  }
}

export function isSecretRef(value: string | undefined): boolean {
  return typeof value === 'string' && value.startsWith('sm://');
}

export type SecretResolver = (value: string | undefined, opts?: { sensitive?: boolean }) => Promise<string | undefined>;

/**
 * A resolver using `smClient` (default: one client with ambient credentials,
 * created on first use). `sensitive`: register a plain value for redaction
 * too (API keys); values read from Secret Manager are always sensitive.
 */
export function createSecretResolver(smClient?: SecretManagerServiceClient): SecretResolver {
  return async (value, { sensitive = true } = {}) => {
    if (value === undefined) return undefined;
    if (!isSecretRef(value)) {
      if (sensitive) registerSecret(value);
      return value;
    }
    return readSecret(value, smClient ?? (client ??= new SecretManagerServiceClient()));
  };
}

export const resolveSecret: SecretResolver = createSecretResolver();

async function readSecret(value: string, sm: SecretManagerServiceClient): Promise<string> {
  const name = value.slice('sm://'.length);
  try {
    const [version] = await sm.accessSecretVersion({ name });
    const data = version.payload?.data;
    const text = (typeof data === 'string' ? data : data ? Buffer.from(data).toString('utf8') : '').trim();
    if (!text) throw new Error('the secret version is empty');
    registerSecret(text);
    return text;
  } catch (err) {
    throw new SecretResolutionError(value, err);
  }
}
