import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import type { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket/index.js';
import { StorageBucketIamMember } from '@cdktf/provider-google/lib/storage-bucket-iam-member/index.js';
import type { InfraConfig } from '../config.js';
import { leaseBucket } from '../names.js';

/**
 * Where the subscriber keeps its lease (SUBSCRIBER_LEASE=gs://<bucket>/subscriber.lease): a
 * small object, taken and renewed with generation preconditions, so only one instance holds the
 * Tote connection while Cloud Run overlaps revisions. Its outbox sits beside it by default
 * (subscriber.lease.outbox/): messages Pub/Sub had not confirmed at shutdown, published first at
 * the next start. Only the subscriber's account may touch either.
 */
export class Lease extends Construct {
  readonly bucket: StorageBucket;

  constructor(scope: Construct, id: string, config: InfraConfig, subscriber: ServiceAccount, dependsOn: ITerraformDependable[]) {
    super(scope, id);
    this.bucket = new StorageBucket(this, 'bucket', {
      name: leaseBucket(config.projectId),
      // Beside the subscriber: every renewal is a round trip inside the region.
      location: config.region,
      storageClass: 'STANDARD',
      uniformBucketLevelAccess: true,
      publicAccessPrevention: 'enforced',
      // The generation precondition is the lock; old generations are worth nothing.
      versioning: { enabled: false },
      // Every renewal replaces the lease object and every start deletes the outbox it replayed:
      // soft delete would keep each replaced or deleted one for 7 days.
      softDeletePolicy: { retentionDurationSeconds: 0 },
      // A teardown deletes whatever is left: a lease outlives no instance, and an outbox left at
      // teardown belongs to a deployment that is going away.
      forceDestroy: true,
      // No lifecycle rule: an age rule could delete a lease while it is held, or an outbox before
      // the next start replays it (after a paused day, that is days later).
      labels: { component: 'lease' },
      dependsOn,
    });
    // Read, create, replace and delete objects in this bucket only (storage.objects.*, no bucket admin).
    new StorageBucketIamMember(this, 'subscriber-holds-lease', {
      bucket: this.bucket.name,
      role: 'roles/storage.objectUser',
      member: `serviceAccount:${subscriber.email}`,
    });
  }
}
