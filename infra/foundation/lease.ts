import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import type { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket/index.js';
import { StorageBucketIamMember } from '@cdktf/provider-google/lib/storage-bucket-iam-member/index.js';
import type { InfraConfig } from '../config.js';
import { leaseBucket } from '../names.js';

/**
 * Where the subscriber keeps its lease (SUBSCRIBER_LEASE=gs://<bucket>/subscriber.lease): one
 * small object, taken and renewed with generation preconditions, so only one instance holds the
 * Tote connection while Cloud Run overlaps revisions. Only the subscriber's account may touch it.
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
      // Every renewal replaces the object: soft delete would keep each replaced one for 7 days.
      softDeletePolicy: { retentionDurationSeconds: 0 },
      // Nothing here outlives an instance: a teardown may delete whatever is left.
      forceDestroy: true,
      // No lifecycle rule: the bucket holds one object of a few bytes, and an age rule could delete a lease while it is held.
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
