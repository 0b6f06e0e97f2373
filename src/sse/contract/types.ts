/**
 * The published contract of the SSE service and the Pub/Sub topics, as TypeScript types. The JSON Schemas
 * and the AsyncAPI document (src/sse/public/contract/) are generated from these and from the catalog by
 * `npm run contract`; test/contract.test.ts fails when the committed files drift from them.
 *
 * Each type here is either the code's own (re-exported, so a change to the code changes the contract) or
 * the shape of an answer the service builds inline; those are annotated where they are built.
 */
import type { Envelope } from '../../envelope/envelope.js';
import type { NamesJson } from '../names.js';
import type { SnapshotJson, SnapshotLimits, SnapshotRules } from '../snapshot.js';

/**
 * One Tote message (`Envelope`): the data of a Pub/Sub message on its type's topic, and, without the
 * pipeline's own socket and process ids, of an SSE event named after its type. `payload` is the object
 * exactly as Tote sent it. `DeadLetter`: a message on tote-dead-letter.
 */
export type { DeadLetter, Envelope } from '../../envelope/envelope.js';
export type { DayCard } from '../../day-card/day-card.js';
/** GET /status of the SSE service. */
export type { SseStatus } from '../status.js';
export type { Aspect, EntityRule, SnapshotLimits, SnapshotRules } from '../snapshot.js';

/**
 * The SSE event data: the envelope without what only the pipeline's own consumers need
 * (`protocol`, `connectionId`, `instanceId`).
 */
export type StreamEnvelope = Pick<
  Envelope,
  'id' | 'type' | 'rootField' | 'receivedAt' | 'source' | 'keys' | 'payload' | 'test' | 'delivery'
>;

/** GET /snapshot: the newest message per aspect of every product and race, and where to stream on from. */
export interface SnapshotResponse extends SnapshotJson {
  /** ISO-8601 time the answer was built. */
  generatedAt: string;
  /** Open /events?lastEventId=<this> to stream on from exactly this state; null while nothing is held. */
  lastEventId: string | null;
  /** What the server keeps; a client holding more than this forgets the entity changed longest ago. */
  limits: SnapshotLimits;
}

/** GET /names: the day card the service holds, keyed by the ids the feed carries. */
export type NamesResponse = NamesJson;

/** What a page keeps at most, served so that browser code need not copy the server's numbers. */
export interface ClientLimits {
  /** Products held; past it the one changed longest ago is forgotten. */
  maxProducts: number;
  /** Races held; past it the one changed longest ago is forgotten. */
  maxEvents: number;
  /** Selections per product and runners per race. */
  maxChildren: number;
  /** An entity unchanged for longer than this is forgotten. */
  maxAgeMs: number;
  /** Envelope ids remembered to drop a repeat after a resume. */
  seenIds: number;
}

/** GET /config.json: what the dashboard and the client need to know about this service. */
export interface DashboardConfig {
  /** Silence inside the feed window after which the feed counts as stale. */
  staleAfterMs: number;
  /** Interval of the stream's heartbeat comments. */
  heartbeatMs: number;
  /** When the feed is expected to carry messages (HH:MM in the zone); equal start and end mean all day. */
  feedWindow: { start: string; end: string; timeZone: string };
  /** Whether the service has a source of names (the day card). */
  names: boolean;
  /** The SSE event names that carry envelopes, one per catalog entry. */
  messageTypes: readonly string[];
  limits: ClientLimits;
  /** How the stream merges into the snapshot, as the server applies it. */
  rules: SnapshotRules;
}

/** The SSE event `resync`: the client's position cannot be resumed here; reload /snapshot and merge it. */
export interface ResyncEvent {
  /**
   * `too-old`: the id is older than the history or than the instant this instance had every message;
   * `unknown-id`: the id was never seen here; `gap`: a subscription was recreated and may have missed messages.
   */
  reason: 'too-old' | 'unknown-id' | 'gap';
  /** The id the client asked to resume from (cut to 100 characters), when there was one. */
  lastEventId?: string;
  /** The oldest id this instance can resume from; null while it holds nothing. */
  oldestEventId: string | null;
  /** Where to reload the state from. */
  snapshot: '/snapshot';
}

/** The SSE event `names`: the day card changed; GET /names when `version` is newer than the one held. */
export interface NamesEvent {
  version: number;
}
