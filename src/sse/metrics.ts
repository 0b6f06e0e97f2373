import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ReorderWindow } from './reorder.js';

/** Lag buckets in seconds: a live page cares about tenths of a second up to a minute behind. */
const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300];

/** Read at each scrape, detached from any object: plain functions, not methods. */
export interface HubGauges {
  readonly connections: () => number;
  readonly historyEvents: () => number;
  readonly historyBytes: () => number;
  readonly snapshotProducts: () => number;
  readonly snapshotEvents: () => number;
  /** The reorder window's counts (ReorderWindow.counts) and what it holds now. */
  readonly reorder: () => ReorderCounts;
}

export type ReorderCounts = Readonly<ReorderWindow<unknown>['counts']> & { readonly holding: number };

/**
 * Prometheus metrics of one SSE instance, in a registry of its own so two
 * services in one process (tests, the all-in-one) never clash.
 */
export class SseMetrics {
  readonly registry = new Registry();
  readonly eventsReceived: Counter<'type'>;
  readonly eventsSent: Counter;
  readonly droppedSlowClients: Counter;
  readonly rejectedEvents: Counter<'reason'>;
  readonly connectionsOpened: Counter;
  readonly connectionsEnded: Counter<'reason'>;
  readonly lag: Histogram;

  constructor(gauges: HubGauges) {
    const registers = [this.registry];
    this.eventsReceived = new Counter({
      name: 'sse_events_received_total',
      help: 'Envelopes taken from the bus, by message type',
      labelNames: ['type'],
      registers,
    });
    this.eventsSent = new Counter({
      name: 'sse_events_sent_total',
      help: 'Events handed to client streams (one per matching client), replays included',
      registers,
    });
    this.droppedSlowClients = new Counter({
      name: 'sse_dropped_slow_clients_total',
      help: 'Clients disconnected because their backlog passed the per-client bound',
      registers,
    });
    this.rejectedEvents = new Counter({
      name: 'sse_rejected_events_total',
      help: 'Envelopes not streamed, by reason (framing, invalid, duplicate)',
      labelNames: ['reason'],
      registers,
    });
    this.connectionsOpened = new Counter({
      name: 'sse_connections_opened_total',
      help: 'Event streams opened',
      registers,
    });
    this.connectionsEnded = new Counter({
      name: 'sse_connections_ended_total',
      help: 'Event streams ended, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.lag = new Histogram({
      name: 'sse_consumer_lag_seconds',
      help: 'Time from the subscriber reading a message to this service taking it from the bus',
      buckets: LAG_BUCKETS,
      registers,
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('sse_connections', 'Open event streams', gauges.connections);
    gauge('sse_history_events', 'Events kept for resume', gauges.historyEvents);
    gauge('sse_history_bytes', 'Bytes of events kept for resume', gauges.historyBytes);
    gauge('sse_snapshot_products', 'Products in the snapshot state', gauges.snapshotProducts);
    gauge('sse_snapshot_events', 'Races in the snapshot state', gauges.snapshotEvents);
    gauge('sse_reorder_holding', 'Events held now to be streamed in id order', () => gauges.reorder().holding);
    // Counts kept by the window itself, read at scrape time: a counter set from them, not incremented per event.
    new Counter({
      name: 'sse_reorder_events_total',
      help: 'Events through the reorder window, by what happened: in-sequence (streamed without waiting out the window), held (waited), gap-wait (held behind a missing number), late (after a larger id was streamed), forced (released early at the bound)',
      labelNames: ['outcome'],
      registers,
      collect() {
        const r = gauges.reorder();
        this.reset();
        this.inc({ outcome: 'in-sequence' }, r.inSequence);
        this.inc({ outcome: 'held' }, r.held);
        this.inc({ outcome: 'gap-wait' }, r.gapWaits);
        this.inc({ outcome: 'late' }, r.late);
        this.inc({ outcome: 'forced' }, r.forced);
      },
    });
    new Counter({
      name: 'sse_reorder_gap_timeouts_total',
      help: 'Publish numbers given up on when the reorder window ran out (the events behind them were streamed through the gap)',
      registers,
      collect() {
        this.reset();
        this.inc(gauges.reorder().gapTimeouts);
      },
    });
  }

  /** Text exposition of this registry and any others (e.g. the consumer's). */
  async text(extra: readonly Registry[] = []): Promise<{ contentType: string; body: string }> {
    const merged = extra.length ? Registry.merge([this.registry, ...extra]) : this.registry;
    return { contentType: merged.contentType, body: await merged.metrics() };
  }
}
