import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReconcilerStatus } from './reconcile/reconciler.js';

/**
 * Prometheus figures for GET /metrics. They mirror /status and the periodic
 * "subscriber stats" log line that the cloud's log-based metrics read.
 */
export function createSubscriberMetrics(read: () => {
  state: string;
  reconnects: number;
  types: Record<string, { received: number; published: number; deadLettered: number; inFlight: number }>;
  deadLetterReasons: Record<string, number>;
  publishBacklog: number;
  historyBacklog: number;
  publishP50Ms: number | null;
  publishP99Ms: number | null;
  reconciliation?: ReconcilerStatus | null;
}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const byType = (name: string, help: string, field: 'received' | 'published' | 'deadLettered') =>
    new Counter({
      name,
      help,
      labelNames: ['type'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [type, c] of Object.entries(read().types)) this.inc({ type }, c[field]);
      },
    });
  byType('tote_messages_received_total', 'Tote messages received, by message type', 'received');
  byType('tote_messages_published_total', 'Envelopes published to the bus, by message type', 'published');
  byType('tote_messages_dead_lettered_total', 'Messages dead-lettered, by message type', 'deadLettered');
  new Counter({
    name: 'tote_dead_letters_total',
    help: 'Dead letters, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(read().deadLetterReasons)) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'tote_reconnects_total',
    help: 'Tote sockets replaced since start',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read().reconnects);
    },
  });
  const gauge = (name: string, help: string, value: () => number | null) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = value();
        if (v !== null) this.set(v);
      },
    });
  gauge('tote_connected', '1 while the Tote connection is running', () => (read().state === 'running' ? 1 : 0));
  gauge('tote_publish_backlog', 'Envelopes handed to the bus and not yet confirmed', () => read().publishBacklog);
  gauge('tote_history_backlog', 'Rows waiting to be stored in history', () => read().historyBacklog);
  gauge('tote_publish_latency_p50_ms', 'Median publish latency over recent messages', () => read().publishP50Ms);
  gauge('tote_publish_latency_p99_ms', '99th percentile publish latency over recent messages', () => read().publishP99Ms);
  const rec = () => read().reconciliation ?? null;
  new Counter({
    name: 'tote_reconciliations_total',
    help: 'Reconciliations with the query gateway after a connect, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      const r = rec();
      if (!r) return;
      this.inc({ outcome: 'failed' }, r.failures);
      this.inc({ outcome: 'ok' }, Math.max(0, r.runs - r.failures - (r.state === 'running' ? 1 : 0)));
    },
  });
  new Counter({
    name: 'tote_reconciliation_corrections_total',
    help: 'Envelopes emitted by reconciliations because Tote had moved on while no socket was open, by message type',
    labelNames: ['type'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [type, n] of Object.entries(rec()?.correctionsByType ?? {})) this.inc({ type }, n);
    },
  });
  gauge('tote_reconciliation_last_success_timestamp_seconds', 'When the last reconciliation succeeded', () => {
    const at = rec()?.lastSuccessAt;
    return at ? Date.parse(at) / 1000 : null;
  });
  gauge('tote_reconciliation_entities_checked', 'Products and events the last reconciliation read', () => rec()?.lastRun?.entitiesChecked ?? null);
  gauge('tote_reconciliation_consecutive_failures', 'Reconciliations failed in a row (0 after a success)', () => rec()?.consecutiveFailures ?? null);
  return registry;
}
