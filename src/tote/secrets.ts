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

/**
 * `sensitive`: register a plain value for redaction too (API keys). Values read
 * from Secret Manager are always treated as sensitive.
 */
export async function resolveSecret(
  value: string | undefined,
  { sensitive = true }: { sensitive?: boolean } = {},
): Promise<string | undefined> {
  if (value === undefined) return undefined;
  if (!isSecretRef(value)) {
    if (sensitive) registerSecret(value);
    return value;
  }
  const name = value.slice('sm://'.length);
  try {
    client ??= new SecretManagerServiceClient();
    const [version] = await client.accessSecretVersion({ name });
    const data = version.payload?.data;
    const text = (typeof data === 'string' ? data : data ? Buffer.from(data).toString('utf8') : '').trim();
    if (!text) throw new Error('the secret version is empty');
    registerSecret(text);
    return text;
  } catch (err) {
    throw new SecretResolutionError(value, err);
  }
}
