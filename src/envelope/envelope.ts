import { type CatalogEntry, type EntityKey } from '../catalog/catalog.js';
import { redact } from '../log/logger.js';
import { uuidv7 } from './uuidv7.js';

export type WireProtocol = 'graphql-ws' | 'graphql-transport-ws';

/**
 * How a message reached us: over the live socket, or recovered from Tote's
 * query gateway by the reconciliation after a reconnect. Named `delivery`
 * because `source` already says which upstream system sent it.
 */
export type Delivery = 'live' | 'reconciled';

/**
 * One Tote message as it travels through the pipeline. `payload` is the
 * object exactly as Tote sent it under `data.<rootField>`; everything else is
 * ours.
 */
export interface Envelope {
  /** UUIDv7: unique and time-ordered; Pub/Sub attribute, BigQuery insertId, SSE id. */
  readonly id: string;
  /** Message type, e.g. PoolTotalChanged. */
  readonly type: string;
  readonly rootField: string;
  /** ISO-8601 time the subscriber read the frame. */
  readonly receivedAt: string;
  /** Where it came from: "tote", "simulator" or "test". */
  readonly source: string;
  readonly keys: Readonly<Partial<Record<EntityKey, string>>>;
  readonly payload: Record<string, unknown>;
  readonly protocol: WireProtocol | null;
  /** Identifies the upstream socket the message arrived on. */
  readonly connectionId: string;
  /** Identifies the subscriber process. */
  readonly instanceId: string;
  /** Marks envelopes made by POST /test-pubsub so consumers can ignore them. */
  readonly test?: boolean;
  /** Absent means 'live'. */
  readonly delivery?: Delivery;
}

export const DEAD_LETTER_REASONS = [
  'invalid-json',
  'invalid-frame',
  'unknown-operation',
  'payload-not-object',
  'payload-too-deep',
  'payload-too-large',
  'missing-keys',
  'graphql-error',
  'frame-too-large',
  'publish-failed',
  'history-rejected',
  'ingest-error',
] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** Longest raw text kept in a dead letter; the rest is cut and the cut recorded. */
export const DEAD_LETTER_RAW_LIMIT = 64 * 1024;

export interface DeadLetter {
  readonly id: string;
  readonly receivedAt: string;
  readonly reason: DeadLetterReason;
  /** Human-readable detail, e.g. which key was missing. */
  readonly detail: string;
  /** The raw frame text (or the envelope JSON), cut to DEAD_LETTER_RAW_LIMIT. */
  readonly raw: string;
  readonly rawTruncated: boolean;
  readonly rootField: string | null;
  readonly type: string | null;
  readonly source: string;
  readonly connectionId: string;
  readonly instanceId: string;
}

export interface Origin {
  readonly source: string;
  readonly protocol: WireProtocol | null;
  readonly connectionId: string;
  readonly instanceId: string;
}

export type KeyResult = { ok: true; keys: Partial<Record<EntityKey, string>> } | { ok: false; missing: EntityKey[] };

/** Reads the catalog's entity keys from the top level of a payload. */
export function extractKeys(entry: CatalogEntry, payload: Record<string, unknown>): KeyResult {
  const keys: Partial<Record<EntityKey, string>> = {};
  const missing: EntityKey[] = [];
  for (const spec of entry.keys) {
    const v = payload[spec.name];
    if (typeof v === 'string' && v.length > 0) keys[spec.name] = v;
    else if (typeof v === 'number' && Number.isFinite(v)) keys[spec.name] = String(v);
    else if (spec.required) missing.push(spec.name);
  }
  return missing.length ? { ok: false, missing } : { ok: true, keys };
}

export function makeEnvelope(
  entry: CatalogEntry,
  payload: Record<string, unknown>,
  keys: Partial<Record<EntityKey, string>>,
  origin: Origin,
  receivedAt: Date = new Date(),
  test = false,
  delivery: Delivery = 'live',
): Envelope {
  return {
    id: uuidv7(receivedAt.getTime()),
    type: entry.messageType,
    rootField: entry.rootField,
    receivedAt: isoTime(receivedAt),
    source: origin.source,
    keys,
    payload,
    protocol: origin.protocol,
    connectionId: origin.connectionId,
    instanceId: origin.instanceId,
    ...(test ? { test: true } : {}),
    ...(delivery === 'reconciled' ? { delivery } : {}),
  };
}

let isoMs = NaN;
let isoText = '';
/**
 * `d.toISOString()`, made once per millisecond: at the feed's peak many
 * envelopes share a millisecond, and formatting the time was a visible part
 * of each one's cost. An invalid date still throws, as toISOString does.
 */
export function isoTime(d: Date): string {
  const ms = d.getTime();
  if (ms !== isoMs) {
    isoText = d.toISOString();
    isoMs = ms;
  }
  return isoText;
}

export function deliveryOf(e: Pick<Envelope, 'delivery'>): Delivery {
  return e.delivery ?? 'live';
}

export function makeDeadLetter(
  reason: DeadLetterReason,
  detail: string,
  raw: string,
  origin: Origin,
  entry?: CatalogEntry,
  receivedAt: Date = new Date(),
): DeadLetter {
  // Tote may echo the API key back (an error naming the header, a debug
  // field): dead letters are stored and published, so the key is cut out
  // here, before the cut, so that no part of a key survives at the edge.
  const clean = redact(raw);
  const rawTruncated = clean.length > DEAD_LETTER_RAW_LIMIT;
  return {
    id: uuidv7(receivedAt.getTime()),
    receivedAt: receivedAt.toISOString(),
    reason,
    detail: redact(detail),
    raw: rawTruncated ? clean.slice(0, DEAD_LETTER_RAW_LIMIT) : clean,
    rawTruncated,
    rootField: entry?.rootField ?? null,
    type: entry?.messageType ?? null,
    source: origin.source,
    connectionId: origin.connectionId,
    instanceId: origin.instanceId,
  };
}
