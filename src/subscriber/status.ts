import type { DailyWindow } from './window.js';
import type { DayCardRelayStatus } from './day-card-relay.js';
import type { TypeCounters } from './ingest.js';
import type { HistoryStatus } from '../history/types.js';
import type { BusHealth } from '../bus/types.js';
import type { ClientState, OperationStatus } from '../tote/client.js';
import type { WireProtocol } from '../envelope/envelope.js';
import type { Readiness } from './readiness.js';

/** What GET /status answers; GET /metrics carries the same figures (see metrics.ts). */
export interface SubscriberStatus {
  service: 'subscriber';
  instanceId: string;
  startedAt: string;
  state: ClientState;
  protocol: WireProtocol | null;
  connectionId: string | null;
  connectedSince: string | null;
  reconnects: number;
  nextRetryAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  paused: boolean;
  framesReceived: number;
  keepAlives: number;
  window: DailyWindow & { inWindow: boolean };
  readiness: Readiness;
  operations: Record<string, OperationStatus>;
  totals: { received: number; published: number; deadLettered: number; inFlight: number };
  types: Record<string, TypeCounters>;
  deadLetterReasons: Record<string, number>;
  deadLettersNotPublished: number;
  publish: {
    bus: string;
    backlog: number;
    busBacklog: number;
    health: BusHealth | null;
    latency: { p50Ms: number | null; p99Ms: number | null; samples: number };
  };
  history: HistoryStatus;
  dayCard: DayCardRelayStatus | null;
}
