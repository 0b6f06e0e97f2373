import type { CloudStorageObjects } from '../cloud-storage/objects.js';
import { parseLeaseRecord, type LeaseRecord, type LeaseStore, type StoredLease } from './lease-store.js';

/**
 * The lease as one Cloud Storage object. Cloud Storage gives every write of
 * an object a new generation and refuses a write or delete whose
 * `ifGenerationMatch` is not the current one (412), which is the
 * compare-and-swap the lease needs, with no other service to run.
 */
export class CloudStorageLeaseStore implements LeaseStore {
  readonly target: string;
  constructor(
    private readonly objects: CloudStorageObjects,
    private readonly object: string,
  ) {
    this.target = `gs://${objects.bucket}/${object}`;
  }

  async read(): Promise<StoredLease | null> {
    const obj = await this.objects.read(this.object);
    if (!obj) return null;
    return { record: parseLeaseRecord(obj.text), generation: obj.generation };
  }

  write(record: LeaseRecord, ifGeneration: string): Promise<string | null> {
    return this.objects.write(this.object, JSON.stringify(record), ifGeneration);
  }

  delete(ifGeneration: string): Promise<boolean> {
    return this.objects.delete(this.object, ifGeneration);
  }
}
