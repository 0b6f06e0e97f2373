import type { EnvironmentName } from './environments.js';

/**
 * Names of everything the stack creates that something else refers to: the
 * services' configuration, the deploy scripts (through print-config.ts) and
 * the operator. Pub/Sub topic names come from the catalog, table names from
 * the history schema.
 */
export const NAMES = {
  subscriberService: 'tote-subscriber',
  sseService: 'tote-sse',
  repository: 'tote',
  imageName: 'tote-pipeline',
  dataset: 'tote',
  deadLetterArchive: 'tote-dead-letter-archive',
  accounts: {
    subscriber: 'tote-subscriber',
    sse: 'tote-sse',
    /** Calls /start and /stop (OIDC): run.invoker on the subscriber, nothing else. */
    scheduler: 'tote-scheduler',
    /** Sets the subscriber's instance count (OAuth to the Cloud Run Admin API). */
    scaler: 'tote-scaler',
    /** Runs Cloud Build: reads the uploaded source, pushes the image. */
    builder: 'tote-builder',
  },
  roles: {
    sseSubscriptions: 'toteSseSubscriptions',
    subscriberScaler: 'toteSubscriberScaler',
    historyInserter: 'toteHistoryInserter',
  },
  jobs: {
    scaleUp: 'tote-subscriber-scale-up',
    start: 'websocket-start',
    stop: 'websocket-stop',
    scaleDown: 'tote-subscriber-scale-down',
  },
} as const;

/** Secret id per environment variable of the services; values are set by scripts/set-secrets.sh only. */
export const SECRETS = {
  TOTE_API_KEY: 'tote-api-key',
  TOTE_GRAPHQL_URL: 'tote-graphql-url',
  TOTE_SUBSCRIPTIONS_URL: 'tote-subscriptions-url',
} as const;
export type SecretVariable = keyof typeof SECRETS;

/** The HS256 key the SSE service checks readers' tokens with (DEPLOY_SSE_ACCESS=token without a JWKS URL). */
export const SSE_JWT_SECRET_ID = 'tote-sse-jwt-secret';

export function stackIds(environment: EnvironmentName): { foundation: string; services: string } {
  return { foundation: `tote-${environment}-foundation`, services: `tote-${environment}-services` };
}

export function serviceAccountEmail(accountId: string, projectId: string): string {
  return `${accountId}@${projectId}.iam.gserviceaccount.com`;
}

/** A Secret Manager reference the services resolve at connect time, so a rotated value needs no redeploy. */
export function secretRef(projectId: string, variable: SecretVariable): string {
  return `sm://projects/${projectId}/secrets/${SECRETS[variable]}/versions/latest`;
}

/** The bucket holding the subscriber's lease object (one Tote connection across instances). */
export function leaseBucket(projectId: string): string {
  return `${projectId}-tote-lease`;
}
export const LEASE_OBJECT = 'subscriber.lease';

/**
 * Id of one of the custom roles: the base name, suffixed from the second deployment generation on
 * (a deleted role's id stays taken for 37 days; see InfraConfig.roleGeneration).
 */
export function roleId(role: keyof typeof NAMES.roles, generation: number): string {
  return generation === 0 ? NAMES.roles[role] : `${NAMES.roles[role]}_${generation}`;
}

export function customRoleName(projectId: string, role: keyof typeof NAMES.roles, generation: number): string {
  return `projects/${projectId}/roles/${roleId(role, generation)}`;
}

export function buildBucket(projectId: string): string {
  return `${projectId}-tote-build`;
}

export function imageRepository(region: string, projectId: string): string {
  return `${region}-docker.pkg.dev/${projectId}/${NAMES.repository}/${NAMES.imageName}`;
}
