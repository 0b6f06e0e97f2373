import type { EnvReader } from './env.js';
import { readReconcileConfig, type ReconcileConfig } from './reconcile.js';

export type ProtocolChoice = 'auto' | 'graphql-ws' | 'graphql-transport-ws';

export interface ToteConfig {
  /** wss:// URL or sm:// reference; undefined means "run the local simulator". */
  subscriptionsUrl: string | undefined;
  /** Query gateway (names of events and products); URL or sm:// reference. */
  graphqlUrl: string | undefined;
  /** API key or sm:// reference. Never logged. */
  apiKey: string | undefined;
  protocol: ProtocolChoice;
  userAgent: string;
  /** Build selection sets from the live schema when the endpoint answers introspection. */
  introspect: boolean;
  selectionDepth: number;
  livenessTimeoutMs: number;
  connectTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  authRetryMs: number;
  operationRetryMinMs: number;
  operationRetryMaxMs: number;
  maxFrameBytes: number;
  /** The day card (names) is refetched from the query API at least this often while the feed runs. */
  dayCardRefreshMs: number;
  /** At most one day-card fetch this often, however many EventUpdated arrive. */
  dayCardMinGapMs: number;
  reconcile: ReconcileConfig;
}

export function readToteConfig(r: EnvReader): ToteConfig {
  const subscriptionsUrl = r.urlOrSecretRef('TOTE_SUBSCRIPTIONS_URL', ['wss:', 'ws:']);
  const apiKey = r.secret('TOTE_API_KEY');
  if (subscriptionsUrl && !apiKey) r.fail('TOTE_API_KEY is required when TOTE_SUBSCRIPTIONS_URL is set');
  const cfg: ToteConfig = {
    subscriptionsUrl,
    graphqlUrl: r.urlOrSecretRef('TOTE_GRAPHQL_URL', ['https:', 'http:']),
    apiKey,
    // Tote documents the legacy protocol; "auto" offers both and speaks whichever the server picks.
    protocol: r.oneOf<ProtocolChoice>('TOTE_PROTOCOL', 'auto', ['auto', 'graphql-ws', 'graphql-transport-ws']),
    // Sent in connection_init as Tote's sample does.
    userAgent: r.str('TOTE_USER_AGENT', 'tote-pipeline-subscriber'),
    // A renamed or added field on Tote's side should never silently drop data.
    introspect: r.bool('TOTE_INTROSPECT', true),
    // Deep enough for dividends (dividends.legs.selections.*), bounded against cyclic types.
    selectionDepth: r.int('TOTE_SELECTION_DEPTH', 6, 1, 12),
    // HotChocolate sends ka every 5 s; six missed keep-alives means the socket is dead.
    livenessTimeoutMs: r.int('TOTE_LIVENESS_TIMEOUT_MS', 30_000, 1_000),
    // HotChocolate closes sockets that do not init within 10 s; we wait as long for the ack.
    connectTimeoutMs: r.int('TOTE_CONNECT_TIMEOUT_MS', 10_000, 500),
    // Full-jitter exponential backoff between these bounds.
    reconnectMinMs: r.int('TOTE_RECONNECT_MIN_MS', 1_000, 10),
    reconnectMaxMs: r.int('TOTE_RECONNECT_MAX_MS', 60_000, 10),
    // A rejected key will not fix itself in a second: retry slowly, do not hammer.
    authRetryMs: r.int('TOTE_AUTH_RETRY_MS', 120_000, 10),
    // A failing operation (e.g. a renamed field) is retried on its own, with backoff.
    operationRetryMinMs: r.int('TOTE_OPERATION_RETRY_MIN_MS', 5_000, 10),
    operationRetryMaxMs: r.int('TOTE_OPERATION_RETRY_MAX_MS', 300_000, 10),
    // Far above any real Tote frame and below Pub/Sub's and BigQuery's 10 MB per message:
    // a larger frame could not be published or stored anyway. ws closes the socket (1009);
    // the frame is dead-lettered as frame-too-large (without its text) and the socket replaced.
    maxFrameBytes: r.int('TOTE_MAX_FRAME_BYTES', 8 * 1024 * 1024, 1024, 9 * 1024 * 1024),
    // Cards change rarely (non-runners, delays); EventUpdated and unknown ids trigger a refetch in between,
    // and a fresh SSE instance waits at most this long for names.
    dayCardRefreshMs: r.int('TOTE_DAY_CARD_REFRESH_MS', 120_000, 1_000),
    // A burst of EventUpdated must not hammer the query API.
    dayCardMinGapMs: r.int('TOTE_DAY_CARD_MIN_GAP_MS', 10_000, 0),
    reconcile: readReconcileConfig(r),
  };
  if (cfg.reconnectMaxMs < cfg.reconnectMinMs) r.fail('TOTE_RECONNECT_MAX_MS must be >= TOTE_RECONNECT_MIN_MS');
  if (cfg.operationRetryMaxMs < cfg.operationRetryMinMs) {
    r.fail('TOTE_OPERATION_RETRY_MAX_MS must be >= TOTE_OPERATION_RETRY_MIN_MS');
  }
  return cfg;
}
