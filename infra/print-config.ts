import { CATALOG, DEAD_LETTER_TOPIC } from '../src/catalog/catalog.js';
import { ConfigError, loadInfraConfig } from './config.js';
import { REQUIRED_APIS } from './foundation/apis.js';
import {
  NAMES,
  SECRETS,
  SSE_JWT_SECRET_ID,
  buildBucket,
  imageRepository,
  leaseBucket,
  roleId,
  serviceAccountEmail,
  stackIds,
} from './names.js';
import { scaledPeriod } from './window.js';

/**
 * The deployment's names and settings as shell assignments, so the scripts
 * use exactly what the stack uses: `config=$(npx tsx infra/print-config.ts)`
 * then `eval "$config"`.
 */
function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

try {
  const c = loadInfraConfig(process.env);
  const stacks = stackIds(c.environment);
  const { scaleUpLeadMinutes, scaleDownLagMinutes } = c.settings.schedule;
  const scaled = scaledPeriod(c.window, scaleUpLeadMinutes, scaleDownLagMinutes);
  const sseKey = c.sseAccess === 'token' && !c.sseJwksUrl;
  const values: Record<string, string> = {
    DEPLOY_ENV: c.environment,
    PROJECT: c.projectId,
    REGION: c.region,
    STATE_BUCKET: c.stateBucket,
    BUILD_BUCKET: buildBucket(c.projectId),
    IMAGE_REPOSITORY: imageRepository(c.region, c.projectId),
    REPOSITORY: NAMES.repository,
    BUILDER_ACCOUNT: serviceAccountEmail(NAMES.accounts.builder, c.projectId),
    FOUNDATION_STACK: stacks.foundation,
    SERVICES_STACK: stacks.services,
    SUBSCRIBER_SERVICE: NAMES.subscriberService,
    SSE_SERVICE: NAMES.sseService,
    DATASET: NAMES.dataset,
    JOB_SCALE_UP: NAMES.jobs.scaleUp,
    JOB_START: NAMES.jobs.start,
    JOB_STOP: NAMES.jobs.stop,
    JOB_SCALE_DOWN: NAMES.jobs.scaleDown,
    WINDOW: `${c.window.start}-${c.window.end} ${c.window.timeZone}`,
    // The schedule keeps one subscriber instance from SCALED_FROM to SCALED_UNTIL (minutes of the day in
    // WINDOW_TIME_ZONE); the scripts compare the clock with these at the moment they act, not at start.
    WINDOW_TIME_ZONE: c.window.timeZone,
    SCALED_FROM: String(scaled.from),
    SCALED_UNTIL: String(scaled.until),
    DELETION_PROTECTION: String(c.deletionProtection),
    REQUIRED_APIS: REQUIRED_APIS.join(' '),
    LEASE_BUCKET: leaseBucket(c.projectId),
    ROLE_GENERATION: String(c.roleGeneration),
    CUSTOM_ROLES: (Object.keys(NAMES.roles) as (keyof typeof NAMES.roles)[]).map((r) => roleId(r, c.roleGeneration)).join(' '),
    SSE_ACCESS: c.sseAccess,
    // Every secret the stack creates; each needs a value before the services can use it.
    SECRET_IDS: [...Object.values(SECRETS), ...(sseKey ? [SSE_JWT_SECRET_ID] : [])].join(' '),
    SECRET_SSE_ACCESS_JWT_SECRET: sseKey ? SSE_JWT_SECRET_ID : '',
    SECRET_TOTE_API_KEY: SECRETS.TOTE_API_KEY,
    SECRET_TOTE_GRAPHQL_URL: SECRETS.TOTE_GRAPHQL_URL,
    SECRET_TOTE_SUBSCRIPTIONS_URL: SECRETS.TOTE_SUBSCRIPTIONS_URL,
    FEED_TOPICS: CATALOG.map((e) => e.topic).join(' '),
    DEAD_LETTER_TOPIC,
  };
  for (const [k, v] of Object.entries(values)) process.stdout.write(`${k}=${quote(v)}\n`);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
