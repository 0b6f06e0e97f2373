import { ConfigError, EnvReader, type Env } from '../src/config/env.js';
import { readSubscriberConfig } from '../src/config/subscriber.js';
import { imageRepository } from './names.js';
import { ENVIRONMENT_NAMES, ENVIRONMENTS, type EnvironmentName, type EnvironmentSettings } from './environments.js';
import { alwaysInsideUtc, type DailyWindow, type UtcRange } from './window.js';

/**
 * Deployment configuration, read once from the environment of `cdktf` (the
 * deploy scripts set it). The daily window is read with the subscriber's own
 * reader from the same SUBSCRIBER_WINDOW_* variables, so the service, the
 * scheduler and the alerts cannot disagree about it.
 */
export interface InfraConfig {
  environment: EnvironmentName;
  projectId: string;
  region: string;
  bigqueryLocation: string;
  /** GCS bucket holding Terraform state; scripts/bootstrap.sh creates it. */
  stateBucket: string;
  /**
   * Container image for both services: scripts/deploy.sh passes the one it built (or found built) for
   * the source. Null when DEPLOY_IMAGE is unset: each service then keeps the image it runs (read from
   * Cloud Run at plan time), so a deploy or plan without it changes no image.
   */
  image: string | null;
  /**
   * Suffix of the custom role ids. A deleted custom role keeps its id for 37 days, so a redeploy after
   * a teardown needs new ids: scripts/teardown.sh counts teardowns next to the state, and the scripts
   * pass the count here.
   */
  roleGeneration: number;
  /** Who may read the SSE stream: see SseAccess. */
  sseAccess: SseAccess;
  /** Token mode: JWKS URL for RS256/ES256 tokens; when unset, tokens are HS256 with the key in Secret Manager. */
  sseJwksUrl: string | undefined;
  /** Token mode: the issuer and audience readers' tokens must name (recommended; unchecked when unset). */
  sseTokenIssuer: string | undefined;
  sseTokenAudience: string | undefined;
  /** IAP mode: the audience of IAP's assertion, /projects/NUMBER/global/backendServices/ID of the load balancer's backend. */
  sseIapAudience: string | undefined;
  window: DailyWindow;
  /** Where the silence alert may look: inside the window on every day of the year, in UTC. */
  alertWindowUtc: UtcRange;
  /** An email notification channel is created for this address when set. */
  alertEmail: string | undefined;
  /** Existing channels (projects/P/notificationChannels/N), e.g. a pager or chat integration. */
  notificationChannels: string[];
  deletionProtection: boolean;
  settings: EnvironmentSettings;
}

export { ConfigError };

/**
 * Who may read the SSE stream and the dashboard:
 * - public: anyone with the URL (Cloud Run allows allUsers); the service checks nothing.
 * - token: anyone may reach it, and the service serves only requests carrying a valid JWT
 *   (HS256 key from Secret Manager, or RS256/ES256 from a JWKS URL).
 * - iap: only through an HTTPS load balancer with Identity-Aware Proxy (set up outside this stack);
 *   the service accepts no direct traffic and only IAP's service agent may invoke it.
 */
export type SseAccess = 'public' | 'token' | 'iap';
export const SSE_ACCESS_MODES: readonly SseAccess[] = ['public', 'token', 'iap'];

/** Zone rules are read for a fixed year so the synthesized stack is reproducible. */
const OFFSET_REFERENCE_YEAR = 2026;

const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const REGION = /^[a-z]+-[a-z]+\d+$/;
const CHANNEL = /^projects\/[^/]+\/notificationChannels\/[^/]+$/;

export function loadInfraConfig(env: Env): InfraConfig {
  const r = new EnvReader(env);
  const environment = r.oneOf<EnvironmentName>('DEPLOY_ENV', 'dev', ENVIRONMENT_NAMES);
  const settings = ENVIRONMENTS[environment];
  const projectId = r.str('DEPLOY_PROJECT', r.str('GOOGLE_CLOUD_PROJECT', ''));
  if (!projectId) r.fail('DEPLOY_PROJECT is required: the Google Cloud project to deploy to (one project per environment)');
  else if (!PROJECT_ID.test(projectId)) r.fail(`DEPLOY_PROJECT is not a valid project id: "${projectId}"`);
  // London: the Tote is a UK operator and the data stays in the UK.
  const region = r.str('DEPLOY_REGION', 'europe-west2');
  if (!REGION.test(region)) r.fail(`DEPLOY_REGION is not a region name like europe-west2: "${region}"`);
  const bigqueryLocation = r.str('DEPLOY_BQ_LOCATION', region);
  const alertEmail = r.optionalStr('DEPLOY_ALERT_EMAIL');
  if (alertEmail && !/^[^@\s]+@[^@\s]+$/.test(alertEmail)) r.fail(`DEPLOY_ALERT_EMAIL is not an email address: "${alertEmail}"`);
  const notificationChannels = r.list('DEPLOY_NOTIFICATION_CHANNELS', []);
  for (const c of notificationChannels) {
    if (!CHANNEL.test(c)) r.fail(`DEPLOY_NOTIFICATION_CHANNELS entries must look like projects/P/notificationChannels/N, got "${c}"`);
  }
  const image = r.optionalStr('DEPLOY_IMAGE') ?? null;
  // A tag or a digest after the last path segment: an untagged name would mean :latest, which no script pushes.
  if (image !== null && !/^[^\s@]+\/[^\s/:@]+(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$/.test(image)) {
    r.fail(`DEPLOY_IMAGE must be an image with a tag or digest, like ${imageRepository(region, projectId)}:<tag>: "${image}"`);
  }
  const roleGeneration = r.int('DEPLOY_ROLE_GENERATION', 0, 0, 999);
  const sseAccess = r.oneOf<SseAccess>('DEPLOY_SSE_ACCESS', 'public', SSE_ACCESS_MODES);
  const sseJwksUrl = r.optionalStr('DEPLOY_SSE_JWKS_URL');
  if (sseJwksUrl && !/^https:\/\/\S+$/.test(sseJwksUrl)) r.fail(`DEPLOY_SSE_JWKS_URL must be an https:// URL: "${sseJwksUrl}"`);
  if (sseJwksUrl && sseAccess !== 'token') r.fail('DEPLOY_SSE_JWKS_URL is only used with DEPLOY_SSE_ACCESS=token');
  const sseTokenIssuer = r.optionalStr('DEPLOY_SSE_TOKEN_ISSUER');
  const sseTokenAudience = r.optionalStr('DEPLOY_SSE_TOKEN_AUDIENCE');
  if ((sseTokenIssuer || sseTokenAudience) && sseAccess !== 'token') {
    r.fail('DEPLOY_SSE_TOKEN_ISSUER and DEPLOY_SSE_TOKEN_AUDIENCE are only used with DEPLOY_SSE_ACCESS=token');
  }
  const sseIapAudience = r.optionalStr('DEPLOY_SSE_IAP_AUDIENCE');
  if (sseAccess === 'iap' && !sseIapAudience) {
    r.fail(
      'DEPLOY_SSE_ACCESS=iap needs DEPLOY_SSE_IAP_AUDIENCE: /projects/<number>/global/backendServices/<id> of the load balancer in front',
    );
  } else if (
    sseIapAudience &&
    !/^\/projects\/\d+\/(global\/backendServices\/\d+|locations\/[a-z0-9-]+\/services\/[a-z0-9-]+)$/.test(sseIapAudience)
  ) {
    r.fail(`DEPLOY_SSE_IAP_AUDIENCE must look like /projects/<number>/global/backendServices/<id>: "${sseIapAudience}"`);
  } else if (sseIapAudience && sseAccess !== 'iap') {
    r.fail('DEPLOY_SSE_IAP_AUDIENCE is only used with DEPLOY_SSE_ACCESS=iap');
  }

  const subscriber = readSubscriberConfig(r);
  const window: DailyWindow = { start: subscriber.windowStart, end: subscriber.windowEnd, timeZone: subscriber.timeZone };
  const alertWindowUtc = r.problems.length ? null : alwaysInsideUtc(window, settings.alerts.silenceMinutes, OFFSET_REFERENCE_YEAR);
  if (!alertWindowUtc && !r.problems.length) {
    r.fail(
      `SUBSCRIBER_WINDOW_START/END ${window.start}-${window.end} ${window.timeZone} must not cross midnight and must leave ` +
        `part of the day inside the window in both winter and summer time (after a ${settings.alerts.silenceMinutes} min grace)`,
    );
  }
  const stateBucket = r.str('DEPLOY_STATE_BUCKET', `${projectId}-tote-tfstate`);
  const deletionProtection = r.bool('DEPLOY_DELETION_PROTECTION', settings.deletionProtection);
  if (r.problems.length) throw new ConfigError(r.problems);
  return {
    environment,
    projectId,
    region,
    bigqueryLocation,
    stateBucket,
    image,
    roleGeneration,
    sseAccess,
    sseJwksUrl,
    sseTokenIssuer,
    sseTokenAudience,
    sseIapAudience,
    window,
    alertWindowUtc: alertWindowUtc!,
    alertEmail,
    notificationChannels,
    deletionProtection,
    settings,
  };
}
