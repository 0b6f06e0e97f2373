import type { Construct } from 'constructs';
import type { CloudRunV2ServiceTemplateContainers } from '@cdktf/provider-google/lib/cloud-run-v2-service/index.js';
import { DataGoogleCloudRunV2Service } from '@cdktf/provider-google/lib/data-google-cloud-run-v2-service/index.js';
import type { InfraConfig } from '../config.js';

/** Cloud Run sends traffic and probes here and sets PORT to it. */
export const CONTAINER_PORT = 8080;

export interface ContainerSpec {
  name: string;
  image: string;
  /** Compiled entry point inside the image, e.g. dist/src/sse/main.js. */
  entry: string;
  cpu: string;
  memory: string;
  env: Record<string, string>;
  /** Variables Cloud Run fills from Secret Manager when an instance starts: name -> secret id (latest version). */
  secretEnv?: Record<string, string>;
}

/**
 * The image a service runs: DEPLOY_IMAGE when given, otherwise the one the
 * service runs now, read from Cloud Run when Terraform plans (there is no
 * `:latest` to fall back on: nothing pushes it). A plan without DEPLOY_IMAGE
 * therefore changes no image, and fails with "not found" only before the
 * first deploy, which scripts/deploy.sh always gives an image.
 */
export function imageOf(scope: Construct, serviceName: string, config: InfraConfig): string {
  if (config.image) return config.image;
  const deployed = new DataGoogleCloudRunV2Service(scope, 'deployed', { name: serviceName, location: config.region });
  return deployed.template.get(0).containers.get(0).image;
}

/**
 * A container of the one image, with node as PID 1 (SIGTERM reaches it) and
 * instance-based billing. cpuIdle is always written out: once `resources` is
 * set, leaving it unset silently switches the service to request-based
 * billing, which throttles the Tote socket and the Pub/Sub pull between
 * requests.
 */
export function toteContainer(spec: ContainerSpec): CloudRunV2ServiceTemplateContainers {
  const health = { httpGet: { path: '/health', port: CONTAINER_PORT } };
  return {
    name: spec.name,
    image: spec.image,
    command: ['node'],
    args: [spec.entry],
    ports: { containerPort: CONTAINER_PORT },
    resources: {
      limits: { cpu: spec.cpu, memory: spec.memory },
      cpuIdle: false,
      // Faster cold starts for the price of a few boosted seconds.
      startupCpuBoost: true,
    },
    env: [
      ...Object.entries(spec.env).map(([name, value]) => ({ name, value })),
      ...Object.entries(spec.secretEnv ?? {}).map(([name, secret]) => ({
        name,
        valueSource: { secretKeyRef: { secret, version: 'latest' } },
      })),
    ],
    // Up to a minute to boot (module loading on a cold instance), checked every 5 s.
    startupProbe: { ...health, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 12 },
    // Three missed checks in a row (90 s) and Cloud Run replaces the instance.
    livenessProbe: { ...health, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3 },
  };
}

/**
 * What both services read alike: the bus, the project and the daily window
 * (the SSE dashboard tells "quiet because outside the window" from "stale").
 * Tote's secrets are not here: only the subscriber may read them.
 */
export function sharedEnv(config: InfraConfig): Record<string, string> {
  return {
    BUS: 'pubsub',
    GOOGLE_CLOUD_PROJECT: config.projectId,
    // Topics come from the stack; the services only publish and create their own subscriptions.
    PUBSUB_CREATE_TOPICS: 'false',
    SUBSCRIBER_WINDOW_START: config.window.start,
    SUBSCRIBER_WINDOW_END: config.window.end,
    SUBSCRIBER_TIME_ZONE: config.window.timeZone,
  };
}
