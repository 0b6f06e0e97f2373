/** What the lease object holds. Times are ISO-8601 from the writer's clock. */
export interface LeaseRecord {
  /** The holding instance (INSTANCE_ID). */
  readonly holder: string;
  /** New for each acquisition, so an instance restarted under the same id is not taken for the old holder. */
  readonly token: string;
  readonly acquiredAt: string;
  readonly renewedAt: string;
  readonly expiresAt: string;
}

export interface StoredLease {
  readonly record: LeaseRecord;
  /** Opaque version: a write or delete succeeds only against the version it read. */
  readonly generation: string;
}

/**
 * Compare-and-swap storage for one lease record: Cloud Storage generations
 * in the cloud, a locked file locally. Every change names the version it
 * replaces, so two instances cannot both believe they took the lease.
 */
export interface LeaseStore {
  /** e.g. file:/var/run/tote.lease or gs://bucket/object, for /status and logs. */
  readonly target: string;
  read(): Promise<StoredLease | null>;
  /** Writes if the current version is `ifGeneration` ('0': only if there is none); the new version, or null if it changed. */
  write(record: LeaseRecord, ifGeneration: string): Promise<string | null>;
  /** Removes the record if it is still at `ifGeneration`; false if it changed or is gone. */
  delete(ifGeneration: string): Promise<boolean>;
}

export function parseLeaseRecord(text: string): LeaseRecord {
  const r = JSON.parse(text) as Partial<LeaseRecord>;
  for (const k of ['holder', 'token', 'acquiredAt', 'renewedAt', 'expiresAt'] as const) {
    if (typeof r[k] !== 'string') throw new Error(`lease record has no ${k}`);
  }
  if (Number.isNaN(Date.parse(r.expiresAt!))) throw new Error('lease record expiresAt is not a time');
  return r as LeaseRecord;
}
