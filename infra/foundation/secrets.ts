import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { SecretManagerSecret } from '@cdktf/provider-google/lib/secret-manager-secret/index.js';
import type { InfraConfig } from '../config.js';
import { SECRETS, SSE_JWT_SECRET_ID, type SecretVariable } from '../names.js';

/**
 * The three Tote connection secrets, without values: scripts/set-secrets.sh
 * adds versions, so no value is ever in code, in a plan or in Terraform state.
 * Only the subscriber's account may read them (identities.ts). In SSE token
 * mode with HS256, the readers' key is one more, read by the SSE account alone.
 */
export class Secrets extends Construct {
  readonly byVariable: Record<SecretVariable, SecretManagerSecret>;
  /** The SSE readers' HS256 key, in token mode without a JWKS URL only. */
  readonly sseJwtSecret: SecretManagerSecret | null;

  constructor(scope: Construct, id: string, config: InfraConfig, dependsOn: ITerraformDependable[]) {
    super(scope, id);
    const { region, deletionProtection } = config;
    const secret = (secretId: string, component: string) =>
      new SecretManagerSecret(this, secretId, {
        secretId,
        // Stored in the deployment region only (automatic replication would place copies anywhere).
        // Replication cannot be changed in place: changing it replaces the secret, values included.
        replication: { userManaged: { replicas: [{ location: region }] } },
        deletionProtection,
        labels: { component },
        dependsOn,
      });
    const make = (variable: SecretVariable) => secret(SECRETS[variable], 'tote-connection');
    this.byVariable = {
      TOTE_API_KEY: make('TOTE_API_KEY'),
      TOTE_GRAPHQL_URL: make('TOTE_GRAPHQL_URL'),
      TOTE_SUBSCRIPTIONS_URL: make('TOTE_SUBSCRIPTIONS_URL'),
    };
    this.sseJwtSecret = config.sseAccess === 'token' && !config.sseJwksUrl ? secret(SSE_JWT_SECRET_ID, 'sse-access') : null;
  }
}
