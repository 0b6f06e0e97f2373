import type { OutgoingMessage } from '../bus/retry-lanes.js';
import { CloudStorageObjects, parseGsUrl } from '../cloud-storage/objects.js';
import { FileOutbox } from './file-outbox.js';
import { CloudStorageOutbox } from './cloud-storage-outbox.js';

/** One batch written at a shutdown, read back at the next start. */
export interface OutboxBatch {
  readonly name: string;
  readonly messages: OutgoingMessage[];
  /** Removes the batch once every message in it is published. */
  done(): Promise<void>;
}

/**
 * Where messages the bus had not confirmed at shutdown are kept until the
 * next start publishes them. A batch is written whole or not at all (a
 * temporary name renamed, or one object upload), so a reader never sees half.
 */
export interface Outbox {
  readonly target: string;
  write(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Batches left by earlier shutdowns, oldest first. */
  pending(): Promise<OutboxBatch[]>;
}

/** `none` | `file:<dir>` | `gs://<bucket>/<prefix>`. */
export function createOutbox(spec: string, instanceId: string, storageEndpoint?: string): Outbox | null {
  if (spec === 'none' || spec === '') return null;
  if (spec.startsWith('file:')) return new FileOutbox(spec.slice('file:'.length), instanceId);
  if (spec.startsWith('gs://')) {
    const { bucket, object } = parseGsUrl(spec);
    return new CloudStorageOutbox(new CloudStorageObjects({ bucket, ...(storageEndpoint ? { endpoint: storageEndpoint } : {}) }), object.endsWith('/') ? object : `${object}/`, instanceId);
  }
  throw new Error(`outbox must be none, file:<dir> or gs://<bucket>/<prefix>, got "${spec}"`);
}
