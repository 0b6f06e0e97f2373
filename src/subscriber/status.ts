import type { HistoryStatus } from '../history/types.js';
import type { ClientStatus } from '../tote/client.js';
import type { DailyWindow } from '../window/daily-window.js';
import type { BusHealth, DeliveryStatus } from '../bus/types.js';
import type { LeaseStatus } from '../lease/index.js';
import type { DayCardRelayStatus } from './day-card-relay.js';
import type { Readiness } from './readiness.js';
import type { ReconcilerStatus } from './reconcile/reconciler.js';
import type { Ingest } from './ingest.js';

type IngestStats = ReturnType<Ingest['stats']>;

/** Recent publish latency percentiles (ms; null before the first publish). */
export interface PublishLatency {
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly samples: number;
}

/**
 * What GET /status of the subscriber answers. Times are ISO 8601 strings (or
 * null when the thing has not happened yet); counters count since start.
 */
export interface SubscriberStatus {
  readonly service: 'subscriber';
  readonly instanceId: string;
  readonly startedAt: string;
  /** The Tote connection: stopped outside the window or after POST /stop. */
  readonly state: ClientStatus['state'];
  readonly protocol: ClientStatus['protocol'];
  readonly connectionId: ClientStatus['connectionId'];
  readonly connectedSince: ClientStatus['connectedSince'];
  readonly reconnects: ClientStatus['reconnects'];
  readonly nextRetryAt: ClientStatus['nextRetryAt'];
  readonly lastError: ClientStatus['lastError'];
  readonly lastErrorAt: ClientStatus['lastErrorAt'];
  /** The socket is paused because the bus or history is behind (backpressure). */
  readonly paused: ClientStatus['paused'];
  /** WebSocket frames received from Tote since start, keep-alives included. */
  readonly framesReceived: ClientStatus['framesReceived'];
  readonly keepAlives: ClientStatus['keepAlives'];
  readonly window: DailyWindow & { readonly inWindow: boolean };
  /** What GET /ready answers (200 when ready). */
  readonly readiness: Readiness;
  /** Per Tote subscription (root field). */
  readonly operations: ClientStatus['operations'];
  /** received = published + outboxed + deadLettered + inFlight. */
  readonly totals: IngestStats['totals'];
  /** The same counters per message type. */
  readonly types: IngestStats['types'];
  readonly deadLetterReasons: IngestStats['deadLetterReasons'];
  readonly deadLettersNotPublished: IngestStats['deadLettersNotPublished'];
  readonly publish: {
    readonly bus: string;
    /** Envelopes handed to the bus and not yet confirmed, as the ingest core counts them. */
    readonly backlog: number;
    /** The same, as the bus client counts them. */
    readonly busBacklog: number;
    /** Whether the bus takes messages now (null for a bus that cannot tell). */
    readonly health: BusHealth | null;
    readonly latency: PublishLatency;
    /** Retries, missing topics and the outbox (null for a bus that cannot tell). */
    readonly delivery: DeliveryStatus | null;
  };
  readonly history: HistoryStatus;
  /** The names relay; null when no query API is configured. */
  readonly dayCard: DayCardRelayStatus | null;
  /** The reconciliation after each connect; `enabled: false` when no query gateway is configured. */
  readonly reconciliation: ReconcilerStatus | { readonly enabled: false };
  /** Who holds the Tote connection across instances; `none` without SUBSCRIBER_LEASE. */
  readonly lease: LeaseStatus | { readonly state: 'none' };
}
