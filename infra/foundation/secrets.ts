import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { SecretManagerSecret } from '@cdktf/provider-google/lib/secret-manager-secret/index.js';
import { SECRETS, type SecretVariable } from '../names.js';

/**
 * The three Tote connection secrets, without values: scripts/set-secrets.sh
 * adds versions, so no value is ever in code, in a plan or in Terraform state.
 * Only the subscriber's account may read them (identities.ts).
 */
export class Secrets extends Construct {
  readonly byVariable: Record<SecretVariable, SecretManagerSecret>;

  constructor(scope: Construct, id: string, region: string, deletionProtection: boolean, dependsOn: ITerraformDependable[]) {
    super(scope, id);
    const make = (variable: SecretVariable) =>
      new SecretManagerSecret(this, SECRETS[variable], {
        secretId: SECRETS[variable],
        // Stored in the deployment region only (automatic replication would place copies anywhere).
        // Replication cannot be changed in place: changing it replaces the secret, values included.
        replication: { userManaged: { replicas: [{ location: region }] } },
        deletionProtection,
        labels: { component: 'tote-connection' },
        dependsOn,
      });
    this.byVariable = {
      TOTE_API_KEY: make('TOTE_API_KEY'),
      TOTE_GRAPHQL_URL: make('TOTE_GRAPHQL_URL'),
      TOTE_SUBSCRIPTIONS_URL: make('TOTE_SUBSCRIPTIONS_URL'),
    };
  }
}
