import { randomBytes } from 'node:crypto';
import type { EnvReader } from './env.js';

export interface SubscriberConfig {
  /** Control API port in the all-in-one (beside the SSE service on PORT). */
  port: number;
  /** Port of the standalone service: Cloud Run's PORT, else SUBSCRIBER_PORT. */
  servicePort: number;
  /** Which variable set servicePort, named in the error when the port is taken. */
  servicePortVariable: 'PORT' | 'SUBSCRIBER_PORT';
  /** Bind address of the standalone service. */
  host: string;
  /** When set, POST /start, /stop and /test-pubsub need `Authorization: Bearer <token>`. */
  controlToken: string | undefined;
  /** Connect to Tote at boot when inside the window (Cloud Run restarts mid-day resume by themselves). */
  autoStart: boolean;
  /** Daily window the subscriber holds the Tote connection, e.g. 06:00-23:00, in `timeZone`; equal start and end means all day. */
  windowStart: string;
  windowEnd: string;
  timeZone: string;
  instanceId: string;
  /** Cloud Run gives 10 s between SIGTERM and SIGKILL; leave headroom to exit. */
  shutdownGraceMs: number;
  /** none | file:<path> | gs://<bucket>/<object>: who may hold the Tote connection. */
  lease: string;
  leaseTtlMs: number;
  leaseRenewMs: number;
  leasePollMs: number;
  /** A Cloud Storage stand-in for the lease and outbox (tests); unset in the cloud. */
  storageEndpoint: string | undefined;
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

export function readSubscriberConfig(r: EnvReader): SubscriberConfig {
  const windowStart = r.str('SUBSCRIBER_WINDOW_START', '06:00');
  const windowEnd = r.str('SUBSCRIBER_WINDOW_END', '23:00');
  if (!HHMM.test(windowStart)) r.fail(`SUBSCRIBER_WINDOW_START must be HH:MM, got "${windowStart}"`);
  if (!HHMM.test(windowEnd)) r.fail(`SUBSCRIBER_WINDOW_END must be HH:MM, got "${windowEnd}"`);
  const timeZone = r.str('SUBSCRIBER_TIME_ZONE', 'Europe/London');
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone });
  } catch {
    r.fail(`SUBSCRIBER_TIME_ZONE is not a known time zone: "${timeZone}"`);
  }
  return {
    // Cloud Run sets PORT for the subscriber's own container; locally 8081 beside the SSE service on 8080.
    port: r.int('SUBSCRIBER_PORT', 8081, 0, 65535),
    servicePort: r.int('PORT', r.int('SUBSCRIBER_PORT', 8081, 0, 65535), 0, 65535),
    servicePortVariable: r.has('PORT') ? 'PORT' : 'SUBSCRIBER_PORT',
    // Cloud Run (K_SERVICE set) routes to 0.0.0.0; anywhere else the control API stays on loopback unless asked.
    host: r.str('SUBSCRIBER_HOST', r.has('K_SERVICE') ? '0.0.0.0' : '127.0.0.1'),
    // Off by default: in the cloud Cloud Run IAM guards the service; set it where the port is reachable by others.
    controlToken: r.secret('SUBSCRIBER_CONTROL_TOKEN'),
    autoStart: r.bool('SUBSCRIBER_AUTO_START', true),
    windowStart,
    windowEnd,
    timeZone,
    // The revision name ties log lines and history rows to a deployment.
    instanceId: r.str('INSTANCE_ID', `${r.str('K_REVISION', 'local')}-${randomBytes(3).toString('hex')}`),
    shutdownGraceMs: r.int('SHUTDOWN_GRACE_MS', 8_000, 100, 60_000),
    ...readLease(r),
  };
}

function readLease(r: EnvReader) {
  // One process locally needs no lease; the cloud sets a gs:// object (Cloud Run overlaps revisions on deploy).
  const lease = r.str('SUBSCRIBER_LEASE', 'none');
  if (!/^(none|file:.+|gs:\/\/[^/]+\/.+)$/.test(lease))
    r.fail(`SUBSCRIBER_LEASE must be none, file:<path> or gs://<bucket>/<object>, got "${lease}"`);
  // A dead holder delays a standby by at most this; long enough to ride out a few failed renewals.
  const leaseTtlMs = r.int('SUBSCRIBER_LEASE_TTL_MS', 30_000, 1_000, 600_000);
  // A third of the TTL: two renewals can fail before the holder must fence itself.
  const leaseRenewMs = r.int('SUBSCRIBER_LEASE_RENEW_MS', Math.floor(leaseTtlMs / 3), 100, 300_000);
  if (leaseRenewMs * 2 >= leaseTtlMs) r.fail('SUBSCRIBER_LEASE_RENEW_MS must be under half of SUBSCRIBER_LEASE_TTL_MS');
  // How soon a standby notices a released lease: the handover gap, at a Cloud Storage read per poll.
  const leasePollMs = r.int('SUBSCRIBER_LEASE_POLL_MS', 2_000, 50, 60_000);
  // The name the Google client libraries use for a local Cloud Storage.
  const storageEndpoint = r.optionalStr('STORAGE_EMULATOR_HOST');
  return { lease, leaseTtlMs, leaseRenewMs, leasePollMs, storageEndpoint };
}
