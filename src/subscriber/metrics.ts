import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { LatencyHistogram } from '../bus/types.js';
import type { SubscriberStatus } from './status.js';

type Labels = Record<string, string>;
type Sample = { labels?: Labels; value: number };

/**
 * Prometheus figures for GET /metrics, read from the same status object as
 * GET /status at scrape time, so the two never disagree. Names follow the
 * Prometheus conventions (base units, `_total` on counters), checked by
 * `promtool check metrics` in the tests.
 */
export function createSubscriberMetrics(
  read: () => SubscriberStatus,
  latency: () => LatencyHistogram | null,
): { contentType: string; text(): Promise<string> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters: promtool rejects the names, and the figures add little to a handle count.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    registry.removeSingleMetric(name);
  // One status read per scrape: every metric below is computed from this copy.
  let current: SubscriberStatus | null = null;
  const s = () => (current ??= read());
  const counter = (name: string, help: string, labelNames: string[], samples: () => Sample[]) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const x of samples()) this.inc(x.labels ?? {}, x.value);
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], samples: () => Sample[]) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const x of samples()) this.set(x.labels ?? {}, x.value);
      },
    });
  const one = (value: number | null | undefined): Sample[] => (value === null || value === undefined ? [] : [{ value }]);
  const byType = (f: 'received' | 'published' | 'deadLettered' | 'inFlight') => () =>
    Object.entries(s().types).map(([type, c]) => ({ labels: { type }, value: c[f] }));
  const seconds = (iso: string | null | undefined) => (iso ? Date.parse(iso) / 1000 : null);

  gauge('tote_ready', '1 when /ready answers 200 (serving, or correctly idle outside the window)', [], () => [
    { value: s().readiness.ready ? 1 : 0 },
  ]);
  gauge('tote_connected', '1 while the Tote connection is acknowledged and running', [], () => [
    { value: s().state === 'running' ? 1 : 0 },
  ]);
  gauge('tote_client_state', 'The Tote client state (1 for the current one)', ['state'], () =>
    ['stopped', 'connecting', 'running', 'backoff'].map((state) => ({ labels: { state }, value: s().state === state ? 1 : 0 })),
  );
  gauge('tote_in_window', '1 inside the daily window', [], () => [{ value: s().window.inWindow ? 1 : 0 }]);
  gauge('tote_paused', '1 while the Tote socket is paused by backpressure', [], () => [{ value: s().paused ? 1 : 0 }]);
  gauge('tote_connected_since_timestamp_seconds', 'When the current Tote connection was acknowledged', [], () =>
    one(seconds(s().connectedSince)),
  );
  gauge('tote_operations', 'Tote subscriptions by state', ['state'], () => {
    const n: Record<string, number> = { pending: 0, active: 0, failed: 0, completed: 0 };
    for (const op of Object.values(s().operations)) n[op.state] = (n[op.state] ?? 0) + 1;
    return Object.entries(n).map(([state, value]) => ({ labels: { state }, value }));
  });
  counter('tote_operation_failures_total', 'Failures of each Tote subscription since start', ['operation'], () =>
    Object.entries(s().operations).map(([operation, op]) => ({ labels: { operation }, value: op.failures })),
  );
  counter('tote_reconnects_total', 'Tote sockets replaced since start', [], () => [{ value: s().reconnects }]);
  counter('tote_frames_received_total', 'WebSocket frames received from Tote, keep-alives included', [], () => [
    { value: s().framesReceived },
  ]);
  counter('tote_keepalives_received_total', 'Keep-alive frames received from Tote', [], () => [{ value: s().keepAlives }]);
  counter('tote_messages_received_total', 'Tote messages received, by message type', ['type'], byType('received'));
  counter('tote_messages_published_total', 'Envelopes published to the bus, by message type', ['type'], byType('published'));
  counter('tote_messages_dead_lettered_total', 'Messages dead-lettered, by message type', ['type'], byType('deadLettered'));
  gauge(
    'tote_messages_in_flight',
    'Envelopes handed to the bus or history and not yet settled, by message type',
    ['type'],
    byType('inFlight'),
  );
  gauge('tote_last_message_timestamp_seconds', 'When the last message of each type arrived', ['type'], () =>
    Object.entries(s().types).flatMap(([type, c]) => one(seconds(c.lastMessageAt)).map((x) => ({ ...x, labels: { type } }))),
  );
  counter('tote_dead_letters_total', 'Dead letters, by reason', ['reason'], () =>
    Object.entries(s().deadLetterReasons).map(([reason, value]) => ({ labels: { reason }, value })),
  );
  counter(
    'tote_dead_letters_not_published_total',
    'Dead letters the bus refused as well (logged, counted, not on the dead-letter topic)',
    [],
    () => [{ value: s().deadLettersNotPublished }],
  );
  gauge('tote_publish_backlog', 'Envelopes handed to the bus and not yet confirmed', [], () => [{ value: s().publish.backlog }]);
  gauge('tote_bus_backlog', "Messages inside the bus client's flow control (outstanding and waiting)", [], () => [
    { value: s().publish.busBacklog },
  ]);
  gauge('tote_bus_healthy', '1 while the bus takes messages (0 after a failed publish until the next success)', [], () =>
    one(s().publish.health === null ? null : s().publish.health!.ok ? 1 : 0),
  );
  gauge('tote_history_backlog', 'Rows waiting to be stored in history', [], () => [{ value: s().history.backlog }]);
  counter('tote_history_rows_stored_total', 'Rows stored in history', [], () => [{ value: s().history.stored }]);
  counter('tote_history_rows_spilled_total', 'Rows spilled for replay because history could not take them', [], () => [
    { value: s().history.spilled },
  ]);
  counter('tote_history_rows_dead_lettered_total', 'Rows the history store refused as invalid', [], () => [
    { value: s().history.deadLettered },
  ]);
  gauge('tote_history_last_write_timestamp_seconds', 'When history last stored a batch', [], () => one(seconds(s().history.lastWriteAt)));
  counter('tote_day_card_fetches_total', 'Day-card fetches from the query API', [], () => one(s().dayCard?.fetches));
  counter('tote_day_card_fetch_failures_total', 'Day-card fetches that failed', [], () => one(s().dayCard?.failures));
  counter('tote_day_cards_published_total', 'Day cards published on the bus', [], () => one(s().dayCard?.published));
  gauge('tote_day_card_products', 'Products on the current day card', [], () => one(s().dayCard?.products));

  // Reconciliation with the query gateway after each connect (absent when no gateway is configured).
  const rec = () => {
    const r = s().reconciliation;
    return r.enabled ? r : null;
  };
  counter('tote_reconciliations_total', 'Reconciliations with the query gateway after a connect, by outcome', ['outcome'], () => {
    const r = rec();
    if (!r) return [];
    return [
      { labels: { outcome: 'failed' }, value: r.failures },
      { labels: { outcome: 'ok' }, value: Math.max(0, r.runs - r.failures - (r.state === 'running' ? 1 : 0)) },
    ];
  });
  counter(
    'tote_reconciliation_corrections_total',
    'Envelopes emitted by reconciliations because Tote had moved on while no socket was open, by message type',
    ['type'],
    () => Object.entries(rec()?.correctionsByType ?? {}).map(([type, value]) => ({ labels: { type }, value })),
  );
  gauge('tote_reconciliation_last_success_timestamp_seconds', 'When the last reconciliation succeeded', [], () =>
    one(seconds(rec()?.lastSuccessAt)),
  );
  gauge('tote_reconciliation_entities_checked', 'Products and events the last reconciliation read', [], () =>
    one(rec()?.lastRun?.entitiesChecked),
  );
  gauge('tote_reconciliation_consecutive_failures', 'Reconciliations failed in a row (0 after a success)', [], () =>
    one(rec()?.consecutiveFailures),
  );

  // Publish latency as a histogram of every publish since start, in seconds.
  registry.registerMetric({
    name: 'tote_publish_latency_seconds',
    help: 'Time from handing an envelope to the bus to its confirmation',
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({
      name: 'tote_publish_latency_seconds',
      help: 'Time from handing an envelope to the bus to its confirmation',
      type: 'histogram',
      aggregator: 'sum',
      values: histogramValues('tote_publish_latency_seconds', latency()),
    }),
    reset: () => undefined,
  } as unknown as Parameters<Registry['registerMetric']>[0]);
  return {
    contentType: registry.contentType,
    async text() {
      current = read();
      try {
        return await registry.metrics();
      } finally {
        current = null;
      }
    },
  };
}

function histogramValues(name: string, h: LatencyHistogram | null) {
  const bounds = h?.bounds ?? [];
  const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = bounds.map((le, i) => ({
    metricName: `${name}_bucket`,
    labels: { le },
    value: h!.counts[i]!,
  }));
  values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: h?.count ?? 0 });
  values.push({ metricName: `${name}_sum`, labels: {}, value: h?.sum ?? 0 });
  values.push({ metricName: `${name}_count`, labels: {}, value: h?.count ?? 0 });
  return values;
}
