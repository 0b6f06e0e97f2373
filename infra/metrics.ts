import { NAMES } from './names.js';

/**
 * The figures the alerts and the dashboard use, as log-based metrics over the
 * services' structured logs (chosen over OpenTelemetry export: no extra
 * dependency or sidecar, and every figure is also readable in the log line
 * that produced it). The services print the same figures at GET /metrics.
 *
 * The log lines relied on, one per metric below:
 * - subscriber, per catalog type every stats interval (zeros included):
 *   {"message":"subscriber type stats","type":"PoolTotalChanged","received":n,"published":n,"deadLettered":n}
 *   with counts since the previous line for that type;
 * - subscriber, every stats interval: {"message":"subscriber stats","publishLatency":{"p50Ms","p99Ms"},
 *   "publishBacklog":n,"historyBacklog":n,...};
 * - subscriber, each reconnect: {"message":"tote reconnecting","class":...,"reason":...};
 * - either service, each dead letter: {"severity":"WARNING","message":"dead letter","reason":...};
 * - SSE, every stats interval: {"message":"sse stats","connections":n,"lagP50Ms":n,"lagP99Ms":n};
 * - SSE, each slow client cut off: {"message":"slow client disconnected",...};
 * - Cloud Run's own request log for 5xx.
 */
export type MetricService = 'subscriber' | 'sse' | 'both';

export interface LogMetricSpec {
  readonly name: string;
  readonly description: string;
  readonly service: MetricService;
  /** Logging query selecting the lines, on top of the service selection. */
  readonly select: string;
  /** Field whose value is recorded; absent for a counter of matching lines. */
  readonly value?: string;
  readonly unit?: string;
  /** Metric label -> field it is extracted from. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Instance ids keep the series of overlapping instances apart, so sums across instances are right. */
const PER_INSTANCE = { instance_id: 'labels.instanceId' } as const;

const line = (message: string) => `jsonPayload.message="${message}"`;

export const METRICS = {
  received: {
    name: 'tote_received',
    description: 'Tote messages received per stats interval, by message type',
    service: 'subscriber',
    select: line('subscriber type stats'),
    value: 'jsonPayload.received',
    unit: '1',
    labels: { type: 'jsonPayload.type', ...PER_INSTANCE },
  },
  receivingIntervals: {
    name: 'tote_receiving_intervals',
    description: 'Stats intervals in which a message type received at least one message (the silence alert)',
    service: 'subscriber',
    select: `${line('subscriber type stats')} AND jsonPayload.received>0`,
  },
  publishLatencyP50: {
    name: 'tote_publish_latency_p50',
    description: 'Pub/Sub publish latency, median of the recent window, in ms',
    service: 'subscriber',
    select: line('subscriber stats'),
    value: 'jsonPayload.publishLatency.p50Ms',
    unit: 'ms',
    labels: PER_INSTANCE,
  },
  publishLatencyP99: {
    name: 'tote_publish_latency_p99',
    description: 'Pub/Sub publish latency, 99th percentile of the recent window, in ms',
    service: 'subscriber',
    select: line('subscriber stats'),
    value: 'jsonPayload.publishLatency.p99Ms',
    unit: 'ms',
    labels: PER_INSTANCE,
  },
  publishBacklog: {
    name: 'tote_publish_backlog',
    description: 'Envelopes handed to Pub/Sub and not yet confirmed',
    service: 'subscriber',
    select: line('subscriber stats'),
    value: 'jsonPayload.publishBacklog',
    unit: '1',
    labels: PER_INSTANCE,
  },
  historyBacklog: {
    name: 'tote_history_backlog',
    description: 'History rows waiting for BigQuery in the subscriber',
    service: 'subscriber',
    select: line('subscriber stats'),
    value: 'jsonPayload.historyBacklog',
    unit: '1',
    labels: PER_INSTANCE,
  },
  reconnects: {
    name: 'tote_reconnects',
    description: 'Reconnects of the Tote WebSocket',
    service: 'subscriber',
    select: line('tote reconnecting'),
    labels: { class: 'jsonPayload.class' },
  },
  deadLetters: {
    name: 'tote_dead_letters',
    description: 'Dead letters, by reason',
    service: 'both',
    select: line('dead letter'),
    labels: { reason: 'jsonPayload.reason' },
  },
  http5xx: {
    name: 'tote_http_5xx',
    description: 'HTTP 5xx responses of either service (an SSE stream cut by the 60 min request cap is not one)',
    service: 'both',
    select:
      'log_id("run.googleapis.com/requests") AND httpRequest.status>=500 ' +
      'AND NOT (httpRequest.status=504 AND httpRequest.requestUrl:"/events")',
  },
  sseConnections: {
    name: 'tote_sse_connections',
    description: 'Open SSE streams per instance',
    service: 'sse',
    select: line('sse stats'),
    value: 'jsonPayload.connections',
    unit: '1',
    labels: PER_INSTANCE,
  },
  sseLagP50: {
    name: 'tote_sse_lag_p50',
    description: 'Consumer lag, Tote receipt to SSE write, median, in ms',
    service: 'sse',
    select: line('sse stats'),
    value: 'jsonPayload.lagP50Ms',
    unit: 'ms',
    labels: PER_INSTANCE,
  },
  sseLagP99: {
    name: 'tote_sse_lag_p99',
    description: 'Consumer lag, Tote receipt to SSE write, 99th percentile, in ms',
    service: 'sse',
    select: line('sse stats'),
    value: 'jsonPayload.lagP99Ms',
    unit: 'ms',
    labels: PER_INSTANCE,
  },
  sseSlowClients: {
    name: 'tote_sse_slow_clients',
    description: 'SSE clients disconnected for falling behind',
    service: 'sse',
    select: line('slow client disconnected'),
  },
} as const satisfies Record<string, LogMetricSpec>;

export type MetricKey = keyof typeof METRICS;

const SERVICE_NAMES: Record<MetricService, readonly string[]> = {
  subscriber: [NAMES.subscriberService],
  sse: [NAMES.sseService],
  both: [NAMES.subscriberService, NAMES.sseService],
};

export function logFilter(spec: LogMetricSpec): string {
  const names = SERVICE_NAMES[spec.service].map((n) => `"${n}"`);
  const service = names.length === 1 ? names[0] : `(${names.join(' OR ')})`;
  return `resource.type="cloud_run_revision" AND resource.labels.service_name=${service} AND ${spec.select}`;
}

/** Cloud Monitoring metric type of a log-based metric. */
export function metricType(key: MetricKey): string {
  return `logging.googleapis.com/user/${METRICS[key].name}`;
}

/** The same metric as PromQL names it. */
export function promMetric(key: MetricKey): string {
  return `logging_googleapis_com:user_${METRICS[key].name}`;
}
