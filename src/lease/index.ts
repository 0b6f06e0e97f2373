import { CloudStorageObjects, parseGsUrl } from '../cloud-storage/objects.js';
import { CloudStorageLeaseStore } from './cloud-storage-lease-store.js';
import { FileLeaseStore } from './file-lease-store.js';
import type { LeaseStore } from './lease-store.js';

export { Lease, type LeaseState, type LeaseStatus } from './lease.js';

/** `none` | `file:<path>` | `gs://<bucket>/<object>`; null for none. */
export function createLeaseStore(spec: string, storageEndpoint?: string): LeaseStore | null {
  if (spec === 'none') return null;
  if (spec.startsWith('file:')) return new FileLeaseStore(spec.slice('file:'.length));
  if (spec.startsWith('gs://')) {
    const { bucket, object } = parseGsUrl(spec);
    return new CloudStorageLeaseStore(
      new CloudStorageObjects({ bucket, ...(storageEndpoint ? { endpoint: storageEndpoint } : {}) }),
      object,
    );
  }
  throw new Error(`SUBSCRIBER_LEASE must be none, file:<path> or gs://<bucket>/<object>, got "${spec}"`);
}
