import type { EnvReader } from './env.js';

export interface BusConfig {
  /** memory: in-process bus (local); pubsub: Google Cloud Pub/Sub or its emulator. */
  kind: 'memory' | 'pubsub';
  projectId: string;
  /** Set only when BUS=pubsub and PUBSUB_EMULATOR_HOST is given. */
  emulatorHost: string | undefined;
  /** Create missing topics at start (default: only on the emulator; in the cloud they come from infra). */
  createTopics: boolean;
  ordering: boolean;
  batchMaxMessages: number;
  batchMaxBytes: number;
  batchMaxMs: number;
  maxOutstandingMessages: number;
  maxOutstandingBytes: number;
  /** Time one publish call may take, the client's own retries included, before the publisher's retry takes over. */
  publishTimeoutMs: number;
  /** Backoff between retries of a failing topic or ordering key. */
  retryMinMs: number;
  retryMaxMs: number;
  /** none | file:<dir> | gs://<bucket>/<prefix>: where unconfirmed messages go at shutdown. */
  outbox: string;
  /** In-process bus: most recent dead letters kept for inspection; older ones are dropped from memory (they were logged). */
  memoryDeadLettersKept: number;
}

export function readBusConfig(r: EnvReader): BusConfig {
  // Real Pub/Sub only on explicit request: PUBSUB_EMULATOR_HOST left in a shell must not switch it on.
  const kind = r.oneOf<'memory' | 'pubsub'>('BUS', 'memory', ['memory', 'pubsub']);
  const emulatorHost = kind === 'pubsub' ? r.optionalStr('PUBSUB_EMULATOR_HOST') : undefined;
  const projectId = r.str('GOOGLE_CLOUD_PROJECT', r.str('PUBSUB_PROJECT_ID', emulatorHost ? 'local-tote' : ''));
  if (kind === 'pubsub' && !projectId) r.fail('GOOGLE_CLOUD_PROJECT is required when BUS=pubsub');
  return {
    kind,
    projectId,
    emulatorHost,
    createTopics: r.bool('PUBSUB_CREATE_TOPICS', Boolean(emulatorHost)),
    // Pool totals per product must not overtake each other.
    ordering: r.bool('PUBSUB_ORDERING', true),
    // Larger than the client's 100 to cut request count on bursts; well under the 1000 cap.
    batchMaxMessages: r.int('PUBSUB_BATCH_MAX_MESSAGES', 500, 1, 1000),
    // Client default; far below the 10 MB request limit.
    batchMaxBytes: r.int('PUBSUB_BATCH_MAX_BYTES', 1024 * 1024, 1024, 9 * 1024 * 1024),
    // Latency budget for a live dashboard: 20 ms of batching is invisible to a person.
    batchMaxMs: r.int('PUBSUB_BATCH_MAX_MS', 20, 0, 1000),
    // Flow control bounds memory when Pub/Sub is slow; past it publish() waits (backpressure).
    maxOutstandingMessages: r.int('PUBSUB_MAX_OUTSTANDING_MESSAGES', 10_000, 1),
    maxOutstandingBytes: r.int('PUBSUB_MAX_OUTSTANDING_BYTES', 64 * 1024 * 1024, 1024),
    // The client's default: shorter makes a slow emulator's late answers into duplicates; the outage is ridden out either way.
    publishTimeoutMs: r.int('PUBSUB_PUBLISH_TIMEOUT_MS', 60_000, 100, 600_000),
    // A quarter second is invisible on a dashboard; a 10 s ceiling finds Pub/Sub back within seconds of its return.
    retryMinMs: r.int('PUBSUB_RETRY_MIN_MS', 250, 1, 60_000),
    retryMaxMs: r.int('PUBSUB_RETRY_MAX_MS', 10_000, 1, 600_000),
    // Beside the lease when there is one (both must outlive the instance); none otherwise, so tests and npm start write nothing.
    outbox: r.str('PUBSUB_OUTBOX', defaultOutbox(r.str('SUBSCRIBER_LEASE', 'none'))),
    // Enough to inspect a burst of bad frames locally without growing with uptime.
    memoryDeadLettersKept: r.int('MEMORY_BUS_DEAD_LETTERS_KEPT', 1_000, 1),
  };
}

/** file:<p> -> file:<p>.outbox, gs://b/o -> gs://b/o.outbox/, none -> none. */
export function defaultOutbox(lease: string): string {
  if (lease.startsWith('file:')) return `${lease}.outbox`;
  if (lease.startsWith('gs://')) return `${lease}.outbox/`;
  return 'none';
}
