import { CloudStorageObjects, parseGsUrl } from '../cloud-storage/objects.js';
import { FileOutbox } from './file-outbox.js';
import { CloudStorageOutbox } from './cloud-storage-outbox.js';
import type { Outbox } from './types.js';

export type { Outbox, OutboxBatch } from './types.js';

/** `none` | `file:<dir>` | `gs://<bucket>/<prefix>`. */
export function createOutbox(spec: string, instanceId: string, storageEndpoint?: string): Outbox | null {
  if (spec === 'none' || spec === '') return null;
  if (spec.startsWith('file:')) return new FileOutbox(spec.slice('file:'.length), instanceId);
  if (spec.startsWith('gs://')) {
    const { bucket, object } = parseGsUrl(spec);
    return new CloudStorageOutbox(
      new CloudStorageObjects({ bucket, ...(storageEndpoint ? { endpoint: storageEndpoint } : {}) }),
      object.endsWith('/') ? object : `${object}/`,
      instanceId,
    );
  }
  throw new Error(`outbox must be none, file:<dir> or gs://<bucket>/<prefix>, got "${spec}"`);
}
