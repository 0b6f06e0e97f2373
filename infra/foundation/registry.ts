import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { ArtifactRegistryRepository } from '@cdktf/provider-google/lib/artifact-registry-repository/index.js';
import { ArtifactRegistryRepositoryIamMember } from '@cdktf/provider-google/lib/artifact-registry-repository-iam-member/index.js';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member/index.js';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket/index.js';
import { StorageBucketIamMember } from '@cdktf/provider-google/lib/storage-bucket-iam-member/index.js';
import type { InfraConfig } from '../config.js';
import { NAMES, buildBucket } from '../names.js';

/**
 * Where the image is built and kept: the Artifact Registry repository, the
 * bucket Cloud Build reads the uploaded source from, and the account builds
 * run as. A dedicated build account works the same in every project, whatever
 * the default Cloud Build account of that project may (not) be allowed.
 */
export class Registry extends Construct {
  readonly repository: ArtifactRegistryRepository;
  readonly builder: ServiceAccount;

  constructor(scope: Construct, id: string, config: InfraConfig, dependsOn: ITerraformDependable[]) {
    super(scope, id);
    this.repository = new ArtifactRegistryRepository(this, 'repository', {
      repositoryId: NAMES.repository,
      location: config.region,
      format: 'DOCKER',
      description: 'Container images of the Tote pipeline (one image, both services)',
      // Every deploy pushes a new tag; the last ten are plenty to roll back to.
      cleanupPolicyDryRun: false,
      cleanupPolicies: [
        { id: 'keep-recent', action: 'KEEP', mostRecentVersions: { keepCount: 10 } },
        { id: 'delete-old', action: 'DELETE', condition: { olderThan: '2592000s' } },
      ],
      labels: { component: 'build' },
      dependsOn,
    });
    const source = new StorageBucket(this, 'source', {
      name: buildBucket(config.projectId),
      location: config.region,
      uniformBucketLevelAccess: true,
      publicAccessPrevention: 'enforced',
      forceDestroy: true,
      // Uploaded source is only needed while the build runs.
      lifecycleRule: [{ action: { type: 'Delete' }, condition: { age: 7 } }],
      labels: { component: 'build' },
      dependsOn,
    });
    this.builder = new ServiceAccount(this, 'builder', {
      accountId: NAMES.accounts.builder,
      displayName: 'Tote pipeline image builds',
      description: 'Cloud Build runs as this account: reads the uploaded source, pushes the image, writes build logs',
      dependsOn,
    });
    const member = `serviceAccount:${this.builder.email}`;
    new StorageBucketIamMember(this, 'builder-reads-source', {
      bucket: source.name,
      role: 'roles/storage.objectViewer',
      member,
    });
    new ArtifactRegistryRepositoryIamMember(this, 'builder-pushes-images', {
      repository: this.repository.name,
      location: this.repository.location,
      role: 'roles/artifactregistry.writer',
      member,
    });
    // Build logs can only be granted project-wide.
    new ProjectIamMember(this, 'builder-writes-logs', {
      project: config.projectId,
      role: 'roles/logging.logWriter',
      member,
    });
  }
}
