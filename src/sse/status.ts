import type { SourceStatus } from '../bus/source-capabilities.js';
import type { Hub } from './hub.js';
import type { AccessStatus } from './access.js';
import type { NamesStatus } from './names.js';

/**
 * What GET /status of the SSE service answers. Times are ISO 8601 strings
 * (or null when the thing has not happened yet); counters count since start.
 * `source` is the in-process bus's `{ kind: 'memory', state }` or the Pub/Sub
 * consumer's PubSubConsumerStatus.
 */
export interface SseStatus extends Readonly<Hub['counts']> {
  readonly service: 'sse';
  readonly instanceId: string;
  readonly startedAt: string;
  readonly uptimeS: number;
  /** Streams open now. */
  readonly connections: number;
  readonly eventsReceived: number;
  readonly eventsSent: number;
  readonly lastEventAt: string | null;
  readonly ratesPerType: Record<string, { readonly perSec: number; readonly total: number }>;
  /** Receipt-to-write lag of recent events (ms). */
  readonly lagMs: { readonly p50: number | null; readonly p90: number | null; readonly p99: number | null };
  /** The resume history: a client whose Last-Event-ID is older than `completeSince` or `oldestId` is told to resync. */
  readonly history: {
    readonly events: number;
    readonly bytes: number;
    readonly maxEvents: number;
    readonly maxBytes: number;
    readonly oldestId: string | null;
    readonly newestId: string | null;
    readonly completeSince: string;
  };
  /**
   * Events from Pub/Sub put in id order before streaming (see
   * docs/guarantee.md). `inSequence`: streamed without waiting out the
   * window, every smaller publish number of their session having arrived;
   * `held`: events that waited (behind a gap, or the whole window for a new
   * session, mixed sessions or messages without a number); `gapWaits`: of
   * those, held behind a missing number; `gapTimeouts`: numbers given up on
   * when the window ran out; `late`: came after a larger id was streamed
   * (streamed at once, out of order); `forced`: released early at the bound;
   * `sessions`: publisher sessions known.
   */
  readonly reorder: {
    readonly windowMs: number;
    readonly holding: number;
    readonly sessions: number;
    readonly held: number;
    readonly late: number;
    readonly forced: number;
    readonly inSequence: number;
    readonly gapWaits: number;
    readonly gapTimeouts: number;
  };
  readonly snapshot: { readonly products: number; readonly events: number; readonly evicted: number };
  readonly source: SourceStatus;
  readonly names: NamesStatus;
  /** Who may read /events, /snapshot and /names, and how many were refused. */
  readonly access: AccessStatus;
  readonly limits: {
    readonly maxConnections: number;
    readonly clientMaxBufferBytes: number;
    readonly clientMaxPendingEvents: number;
    readonly heartbeatMs: number;
    readonly maxConnectionMs: number;
  };
}
