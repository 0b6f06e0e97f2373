import { Construct } from 'constructs';
import { CloudRunV2Service } from '@cdktf/provider-google/lib/cloud-run-v2-service/index.js';
import { CloudRunV2ServiceIamMember } from '@cdktf/provider-google/lib/cloud-run-v2-service-iam-member/index.js';
import { DataGoogleProject } from '@cdktf/provider-google/lib/data-google-project/index.js';
import type { InfraConfig, SseAccess } from '../config.js';
import { NAMES, SSE_JWT_SECRET_ID, serviceAccountEmail } from '../names.js';
import { imageOf, sharedEnv, toteContainer } from './container.js';

/**
 * The SSE service's own reader check (src/config/sse-access.ts reads these):
 * the mode, and per mode the key or key set and the claims tokens must carry.
 */
export const SSE_ACCESS_ENV = {
  mode: 'SSE_ACCESS',
  jwtSecret: 'SSE_ACCESS_JWT_SECRET',
  jwksUrl: 'SSE_ACCESS_JWKS_URL',
  issuer: 'SSE_ACCESS_ISSUER',
  audience: 'SSE_ACCESS_AUDIENCE',
} as const;

const INGRESS: Record<SseAccess, string> = {
  public: 'INGRESS_TRAFFIC_ALL',
  token: 'INGRESS_TRAFFIC_ALL',
  // Only Google's load balancers may reach it: the IAP-fronted one is the way in.
  iap: 'INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER',
};

/**
 * The SSE service. Instance-based billing, because each instance pulls from
 * Pub/Sub in the background; autoscaled on concurrent streams, to zero when
 * nobody watches. It reads the day card (race and product names) from its
 * topic like the feed, so it needs none of Tote's secrets. Who may read it is
 * DEPLOY_SSE_ACCESS (see SseAccess in config.ts).
 */
export class SseService extends Construct {
  readonly service: CloudRunV2Service;

  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id);
    const { projectId, sseAccess } = config;
    const s = config.settings.sse;
    const auth: { env: Record<string, string>; secretEnv: Record<string, string> } = {
      env: { [SSE_ACCESS_ENV.mode]: sseAccess },
      secretEnv: {},
    };
    if (sseAccess === 'token') {
      if (config.sseJwksUrl) auth.env[SSE_ACCESS_ENV.jwksUrl] = config.sseJwksUrl;
      else auth.secretEnv[SSE_ACCESS_ENV.jwtSecret] = SSE_JWT_SECRET_ID;
      if (config.sseTokenIssuer) auth.env[SSE_ACCESS_ENV.issuer] = config.sseTokenIssuer;
      if (config.sseTokenAudience) auth.env[SSE_ACCESS_ENV.audience] = config.sseTokenAudience;
    }
    // IAP's assertion names the backend it was made for; the service refuses any other.
    if (sseAccess === 'iap') auth.env[SSE_ACCESS_ENV.audience] = config.sseIapAudience!;
    this.service = new CloudRunV2Service(this, 'service', {
      name: NAMES.sseService,
      location: config.region,
      description: `Live Tote dashboards over Server-Sent Events (access: ${sseAccess})`,
      ingress: INGRESS[sseAccess],
      deletionProtection: config.deletionProtection,
      labels: { component: 'sse' },
      template: {
        serviceAccount: serviceAccountEmail(NAMES.accounts.sse, projectId),
        maxInstanceRequestConcurrency: s.concurrency,
        // Cloud Run's maximum: a stream lives up to an hour, then EventSource resumes by Last-Event-ID.
        timeout: '3600s',
        scaling: { minInstanceCount: s.minInstances, maxInstanceCount: s.maxInstances },
        containers: [
          toteContainer({
            name: 'sse',
            image: imageOf(this, NAMES.sseService, config),
            entry: 'dist/src/sse/main.js',
            cpu: s.cpu,
            memory: s.memory,
            env: { ...sharedEnv(config), LOG_LEVEL: s.logLevel, ...auth.env },
            secretEnv: auth.secretEnv,
          }),
        ],
      },
    });
    // Public and token: Cloud Run lets everyone through (browsers carry no Google identity) and,
    // in token mode, the service checks the JWT. IAP: only the proxy's service agent may invoke it.
    const member =
      sseAccess === 'iap'
        ? `serviceAccount:service-${new DataGoogleProject(this, 'project', { projectId }).number}@gcp-sa-iap.iam.gserviceaccount.com`
        : 'allUsers';
    new CloudRunV2ServiceIamMember(this, sseAccess === 'iap' ? 'iap-invokes' : 'public', {
      name: this.service.name,
      location: this.service.location,
      role: 'roles/run.invoker',
      member,
    });
  }
}
