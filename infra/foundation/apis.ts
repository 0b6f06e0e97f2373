import { Construct } from 'constructs';
import { ProjectService } from '@cdktf/provider-google/lib/project-service/index.js';

/**
 * Every API the system uses. scripts/bootstrap.sh enables the same list
 * (through infra/print-config.ts) so a first deploy does not wait on them;
 * the stack owns them so the list is reviewed with the code.
 */
export const REQUIRED_APIS = [
  'artifactregistry.googleapis.com',
  'bigquery.googleapis.com',
  'cloudbuild.googleapis.com',
  'cloudresourcemanager.googleapis.com',
  'cloudscheduler.googleapis.com',
  'iam.googleapis.com',
  'logging.googleapis.com',
  'monitoring.googleapis.com',
  'pubsub.googleapis.com',
  'run.googleapis.com',
  'secretmanager.googleapis.com',
  'storage.googleapis.com',
] as const;

export class Apis extends Construct {
  readonly services: ProjectService[];

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.services = REQUIRED_APIS.map(
      (api) =>
        new ProjectService(this, api.split('.')[0]!, {
          service: api,
          // Tearing the stack down must not switch off APIs other things in the project may use.
          disableOnDestroy: false,
        }),
    );
  }
}
