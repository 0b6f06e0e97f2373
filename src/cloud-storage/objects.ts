import { GoogleAuth } from 'google-auth-library';

/** A Cloud Storage answer other than success; `status` says which (404 absent, 412 precondition failed). */
export class StorageError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

export interface StoredObject {
  readonly text: string;
  readonly generation: string;
}

export interface ObjectsOptions {
  bucket: string;
  /**
   * A local stand-in's address (STORAGE_EMULATOR_HOST, as the Google client
   * libraries name it); requests then carry no credentials. Unset:
   * https://storage.googleapis.com with ambient credentials.
   */
  endpoint?: string;
  /** Each request's limit, so a hung call cannot outlive a lease. @default 5000 */
  requestTimeoutMs?: number;
}

/**
 * The few Cloud Storage JSON API calls the lease and the outbox need, with
 * generation preconditions: `ifGenerationMatch=0` creates only if absent, a
 * generation number replaces or deletes only the version that was read. The
 * official client would bring a large dependency tree for four calls; the
 * auth library (already used by the Google clients here) supplies the token.
 */
export class CloudStorageObjects {
  private readonly endpoint: string;
  private readonly local: boolean;
  private readonly timeoutMs: number;
  private auth: GoogleAuth | null = null;

  constructor(private readonly opts: ObjectsOptions) {
    const emulator = opts.endpoint;
    this.local = Boolean(emulator);
    this.endpoint = (emulator ?? 'https://storage.googleapis.com').replace(/\/+$/, '');
    this.timeoutMs = opts.requestTimeoutMs ?? 5_000;
  }

  get bucket(): string {
    return this.opts.bucket;
  }

  private async headers(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    if (this.local) return extra;
    this.auth ??= new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/devstorage.read_write'] });
    const token = await this.auth.getAccessToken();
    if (!token) throw new StorageError('no access token for Cloud Storage', 401);
    return { ...extra, authorization: `Bearer ${token}` };
  }

  private objectUrl(name: string): string {
    return `${this.endpoint}/storage/v1/b/${encodeURIComponent(this.opts.bucket)}/o/${encodeURIComponent(name)}`;
  }

  private async call(method: string, url: string, body?: string): Promise<Response> {
    const res = await fetch(url, {
      method,
      headers: await this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    throw new StorageError(`${method} gs://${this.opts.bucket}: ${res.status} ${text.slice(0, 200)}`, res.status);
  }

  /** The object's text and generation, or null when there is none. */
  async read(name: string): Promise<StoredObject | null> {
    try {
      const res = await this.call('GET', `${this.objectUrl(name)}?alt=media`);
      const generation = res.headers.get('x-goog-generation');
      if (!generation) throw new StorageError(`gs://${this.opts.bucket}/${name}: no generation in the answer`, 502);
      return { text: await res.text(), generation };
    } catch (err) {
      if (err instanceof StorageError && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * Writes `text` if the object's generation is still `ifGeneration` ('0':
   * only if absent). Returns the new generation, or null when another writer
   * got there first (412).
   */
  async write(name: string, text: string, ifGeneration: string): Promise<string | null> {
    const url =
      `${this.endpoint}/upload/storage/v1/b/${encodeURIComponent(this.opts.bucket)}/o` +
      `?uploadType=media&name=${encodeURIComponent(name)}&ifGenerationMatch=${encodeURIComponent(ifGeneration)}`;
    try {
      const res = await this.call('POST', url, text);
      const meta = (await res.json()) as { generation?: string | number };
      if (meta.generation === undefined) throw new StorageError(`gs://${this.opts.bucket}/${name}: no generation in the answer`, 502);
      return String(meta.generation);
    } catch (err) {
      if (err instanceof StorageError && err.status === 412) return null;
      throw err;
    }
  }

  /** Deletes the object if it is still at `ifGeneration`; false if it changed or is gone. */
  async delete(name: string, ifGeneration?: string): Promise<boolean> {
    try {
      await this.call('DELETE', this.objectUrl(name) + (ifGeneration ? `?ifGenerationMatch=${encodeURIComponent(ifGeneration)}` : ''));
      return true;
    } catch (err) {
      if (err instanceof StorageError && (err.status === 412 || err.status === 404)) return false;
      throw err;
    }
  }

  /** Names under `prefix`, oldest name first (names carry a time, so that is write order). */
  async list(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let pageToken: string | undefined;
    do {
      const url =
        `${this.endpoint}/storage/v1/b/${encodeURIComponent(this.opts.bucket)}/o?prefix=${encodeURIComponent(prefix)}` +
        (pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : '');
      const page = (await (await this.call('GET', url)).json()) as { items?: { name: string }[]; nextPageToken?: string };
      for (const i of page.items ?? []) names.push(i.name);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return names.sort();
  }
}

/** Splits gs://bucket/object into its parts; throws on anything else. */
export function parseGsUrl(url: string): { bucket: string; object: string } {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])\/(.+)$/.exec(url);
  if (!m) throw new Error(`not a gs://bucket/object address: "${url}"`);
  return { bucket: m[1]!, object: m[2]! };
}
