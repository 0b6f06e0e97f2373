import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

export interface EncodedBody {
  readonly json: Buffer;
  /** Compressed off the event loop; card JSON is mostly ids, which gzip to a fraction. */
  readonly gzip: Promise<Buffer>;
}

/**
 * One value's JSON body, serialized and compressed once however many
 * requests ask for it. Keyed by object identity: the holder replaces the
 * value (never mutates it) when it changes, so only the latest is kept.
 */
export class EncodedJson<T extends object> {
  private last: { value: T; body: EncodedBody } | undefined;

  of(value: T): EncodedBody {
    if (this.last?.value !== value) {
      const json = Buffer.from(JSON.stringify(value));
      const compressed = gzipAsync(json);
      // A failed compression is answered uncompressed by the caller; never an unhandled rejection here.
      compressed.catch(() => undefined);
      this.last = { value, body: { json, gzip: compressed } };
    }
    return this.last.body;
  }
}
