import { Aspects, GcsBackend, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import type { InfraConfig } from './config.js';
import { LabelsAspect } from './labels.js';

/**
 * What every stack of the app shares: the Google provider for the
 * environment's project and region, state in the bootstrap bucket under a
 * prefix per environment and stack, and the labels.
 */
export class ToteStack extends TerraformStack {
  constructor(
    scope: Construct,
    id: string,
    readonly config: InfraConfig,
    part: string,
  ) {
    super(scope, id);
    new GoogleProvider(this, 'google', { project: config.projectId, region: config.region });
    new GcsBackend(this, { bucket: config.stateBucket, prefix: `tote/${config.environment}/${part}` });
    Aspects.of(this).add(new LabelsAspect({ app: 'tote-pipeline', environment: config.environment, 'managed-by': 'cdktf' }));
  }
}
