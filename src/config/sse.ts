import { randomBytes } from 'node:crypto';
import type { DailyWindow } from '../window/daily-window.js';
import type { EnvReader } from './env.js';
import { readSseAccessConfig, type SseAccessConfig } from './sse-access.js';

/** Options of the Pub/Sub consumer inside the SSE service (one subscription per topic per instance). */
export interface ConsumerConfig {
  /** Prefix of this instance's subscription names: `<prefix>-<instanceId>-<topic>`. */
  subscriptionPrefix: string;
  ackDeadlineSeconds: number;
  messageRetentionSeconds: number;
  expirationTtlSeconds: number;
  /** Deliver messages of one ordering key (a product, an event) in publish order. */
  ordering: boolean;
  /** Flow control per subscription: past either bound the client stops pulling. */
  maxMessages: number;
  maxBytes: number;
  /** Streaming-pull streams per subscription. */
  streams: number;
  /** Envelope ids remembered to drop Pub/Sub redeliveries. */
  dedupeIds: number;
  /** Budget for deleting this instance's subscriptions at shutdown. */
  deleteTimeoutMs: number;
  /** Publish undecodable messages to the dead-letter topic (needs publisher rights on it). */
  deadLetter: boolean;
  /** Wait before recreating a subscription whose stream failed for good (e.g. it was deleted). */
  reopenDelayMs: number;
  /** How far back a new subscription is sought (never before today's feed window start); 0 = no seek. */
  seekBackMs: number;
  /** A recreated subscription is sought to its newest delivered message's publish time less this. */
  reopenSeekMarginMs: number;
  /** Allowance for clock skew between the subscriber (which stamps ids) and this instance, for "complete since". */
  clockSkewMs: number;
  /** Dead-letter publishes in flight at most; past it a refused message is logged and counted only. */
  maxDeadLettersInFlight: number;
}

/** Hours (HH:MM, in timeZone) when the feed should be flowing: the subscriber's daily window. */
export type FeedWindow = DailyWindow;

export interface SseConfig {
  port: number;
  host: string;
  /** Names this instance in logs, /status and its Pub/Sub subscription names. */
  instanceId: string;
  heartbeatMs: number;
  retryMs: number;
  /** Longest life of one stream before the server ends it (jittered down by up to 20%). 0 = no limit. */
  maxConnectionMs: number;
  maxConnections: number;
  /** Per-client backlog bounds; a client past either is disconnected and resumes by Last-Event-ID. */
  clientMaxBufferBytes: number;
  clientMaxPendingEvents: number;
  historyMaxEvents: number;
  historyMaxBytes: number;
  /** With the Pub/Sub consumer, events are held this long and streamed in id order, so a stream can resume on any instance. 0 = off. */
  reorderWindowMs: number;
  /** Events held for reordering at most; past it the oldest ids are streamed early. */
  reorderMaxEvents: number;
  snapshotMaxProducts: number;
  snapshotMaxEvents: number;
  /** Per product (selections) and per event (runners). */
  snapshotMaxChildren: number;
  snapshotMaxAgeMs: number;
  /** Origins allowed to read the API cross-origin; empty = same origin only; "*" = any. */
  corsOrigins: string[];
  /** The dashboard calls the feed stale after this long without a message inside the feed window. */
  staleAfterMs: number;
  feedWindow: FeedWindow;
  statsLogMs: number;
  /** Who may read /events, /snapshot and /names. */
  access: SseAccessConfig;
  consumer: ConsumerConfig;
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

export function readSseConfig(r: EnvReader): SseConfig {
  const windowStart = r.str('SSE_FEED_WINDOW_START', r.str('SUBSCRIBER_WINDOW_START', '06:00'));
  const windowEnd = r.str('SSE_FEED_WINDOW_END', r.str('SUBSCRIBER_WINDOW_END', '23:00'));
  const timeZone = r.str('SSE_FEED_TIME_ZONE', r.str('SUBSCRIBER_TIME_ZONE', 'Europe/London'));
  if (!HHMM.test(windowStart)) r.fail(`SSE_FEED_WINDOW_START must be HH:MM, got "${windowStart}"`);
  if (!HHMM.test(windowEnd)) r.fail(`SSE_FEED_WINDOW_END must be HH:MM, got "${windowEnd}"`);
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone });
  } catch {
    r.fail(`SSE_FEED_TIME_ZONE is not a known time zone: "${timeZone}"`);
  }
  const corsOrigins = r.list('SSE_CORS_ORIGINS', []);
  for (const o of corsOrigins) {
    if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o)) {
      r.fail(`SSE_CORS_ORIGINS entries must be "*" or an origin like https://example.com, got "${o}"`);
    }
  }
  const cfg: SseConfig = {
    // Cloud Run's contract: listen on PORT (8080 by default).
    port: r.int('PORT', 8080, 0, 65535),
    // Cloud Run routes to the container's external interface; set 127.0.0.1 to keep a dev box private.
    host: r.str('SSE_HOST', '0.0.0.0'),
    // The revision is shared by every instance of a deployment, so a random suffix keeps subscriptions apart.
    instanceId: r.str('SSE_INSTANCE_ID', `${r.str('K_REVISION', 'local')}-${randomBytes(3).toString('hex')}`),
    // Under the 60 s idle timeout of nginx and load balancers and Cloudflare's 100 s.
    heartbeatMs: r.int('SSE_HEARTBEAT_MS', 15_000, 100, 600_000),
    // EventSource's reconnect delay: quick enough that a cut stream is not noticed.
    retryMs: r.int('SSE_RETRY_MS', 2_000, 0, 600_000),
    // Below Cloud Run's 60 min request cap, so the server ends streams cleanly and spread out, not all at once by a 504.
    maxConnectionMs: r.int('SSE_MAX_CONNECTION_MS', 50 * 60_000, 0),
    // Cloud Run allows 1,000 concurrent requests per instance; the process holds ~19,000 sockets at most.
    maxConnections: r.int('SSE_MAX_CONNECTIONS', 10_000, 1, 19_000),
    // Centrifugo's default queue; a dashboard behind on a whole megabyte is better off resuming.
    clientMaxBufferBytes: r.int('SSE_CLIENT_MAX_BUFFER_BYTES', 1024 * 1024, 1024),
    // Mercure's per-subscriber buffer of 1,000 updates.
    clientMaxPendingEvents: r.int('SSE_CLIENT_MAX_PENDING_EVENTS', 1_000, 1),
    // Several minutes of a busy afternoon, enough to bridge a reconnect or a 60-minute cut's few seconds.
    historyMaxEvents: r.int('SSE_HISTORY_MAX_EVENTS', 20_000, 1),
    historyMaxBytes: r.int('SSE_HISTORY_MAX_BYTES', 32 * 1024 * 1024, 1024),
    // Instances' subscriptions deliver different topics a few hundred ms apart at most when healthy; a second covers that.
    reorderWindowMs: r.int('SSE_REORDER_WINDOW_MS', 1_000, 0, 60_000),
    // Ten seconds of a 1,000 msg/s flood: a bound that only a backlog reaches, and then order matters least.
    reorderMaxEvents: r.int('SSE_REORDER_MAX_EVENTS', 10_000, 1),
    // A UK racing day has a few hundred products; the caps only bite on a runaway feed.
    snapshotMaxProducts: r.int('SSE_SNAPSHOT_MAX_PRODUCTS', 5_000, 1),
    snapshotMaxEvents: r.int('SSE_SNAPSHOT_MAX_EVENTS', 2_000, 1),
    snapshotMaxChildren: r.int('SSE_SNAPSHOT_MAX_CHILDREN', 200, 1),
    // One racing day: yesterday's products drop out overnight without a restart.
    snapshotMaxAgeMs: r.int('SSE_SNAPSHOT_MAX_AGE_MS', 18 * 3_600_000, 1_000),
    corsOrigins,
    // Pool totals tick every few seconds while pools are open; half a minute of silence means trouble.
    staleAfterMs: r.int('SSE_STALE_AFTER_MS', 30_000, 1_000),
    feedWindow: { start: windowStart, end: windowEnd, timeZone },
    // One line a minute feeds the log-based metrics without flooding the log.
    statsLogMs: r.int('SSE_STATS_LOG_MS', 60_000, 1_000),
    access: readSseAccessConfig(r),
    consumer: {
      subscriptionPrefix: r.str('SSE_SUBSCRIPTION_PREFIX', 'sse'),
      // Messages are acked as soon as they are on the in-process bus, so a short lease is plenty.
      ackDeadlineSeconds: r.int('SSE_ACK_DEADLINE_SECONDS', 20, 10, 600),
      // The minimum: a live view has no use for old messages, and an orphan holds little.
      messageRetentionSeconds: r.int('SSE_MESSAGE_RETENTION_SECONDS', 600, 600, 31 * 86_400),
      // The minimum Pub/Sub allows: the backstop for an instance that died without deleting them.
      expirationTtlSeconds: r.int('SSE_SUBSCRIPTION_TTL_SECONDS', 86_400, 86_400, 31 * 86_400),
      // A later pool total must not overtake an earlier one for the same product.
      ordering: r.bool('SSE_SUBSCRIPTION_ORDERING', true),
      // Per subscription. The hub takes a message in microseconds, but Pub/Sub counts it outstanding until
      // the batched ack reaches it, so a subscription carries at most this many per ack round trip: 500
      // held one busy topic to ~400 messages/s on the emulator under load. maxBytes is the memory bound.
      maxMessages: r.int('SSE_CONSUMER_MAX_MESSAGES', 5_000, 1),
      maxBytes: r.int('SSE_CONSUMER_MAX_BYTES', 8 * 1024 * 1024, 1024),
      // One stream per topic is 16 per instance, not 80. The emulator delivers only ~2,000 messages/s per
      // stream (docs/benchmarks.md); each stream is granted the flow-control bounds, so memory is streams x maxBytes.
      streams: r.int('SSE_CONSUMER_STREAMS', 1, 1, 10),
      // Redeliveries arrive within minutes; 50,000 ids is far more than minutes of feed.
      dedupeIds: r.int('SSE_CONSUMER_DEDUPE_IDS', 50_000, 1),
      // Cloud Run allows 10 s after SIGTERM; leave room to close the HTTP server too.
      deleteTimeoutMs: r.int('SSE_CONSUMER_DELETE_TIMEOUT_MS', 6_000, 100),
      deadLetter: r.bool('SSE_CONSUMER_DEAD_LETTER', true),
      // The client has already retried transient errors by then; this only paces a persistent failure.
      reopenDelayMs: r.int('SSE_CONSUMER_REOPEN_DELAY_MS', 5_000, 10),
      // Covers a whole feed window (06:00-23:00 is 17 h); replays only what the topics' retention still holds.
      seekBackMs: r.int('SSE_SEEK_BACK_MS', 18 * 3_600_000, 0),
      // Covers messages of other ordering keys published just before the newest one seen but not yet
      // delivered (flow control holds up to 5,000 per subscription, acked within the 20 s lease); the few
      // replayed twice are dropped by envelope id.
      reopenSeekMarginMs: r.int('SSE_REOPEN_SEEK_MARGIN_MS', 120_000, 0),
      // NTP keeps Cloud Run clocks within milliseconds; a second more is cheap (a rare needless resync).
      clockSkewMs: r.int('SSE_CLOCK_SKEW_MS', 1_000, 0),
      // A dead-letter topic that hangs must not pile up publishes; 100 is far above a healthy rate.
      maxDeadLettersInFlight: r.int('SSE_CONSUMER_MAX_DEAD_LETTERS_IN_FLIGHT', 100, 1),
    },
  };
  return cfg;
}
