import { ENTITY_KEYS, keyColumn } from '../catalog/catalog.js';
import { makeDeadLetter, type DeadLetter, type Envelope } from '../envelope/envelope.js';
import { DEAD_LETTERS_TABLE, MESSAGES_TABLE } from './schema.js';

export type HistoryTable = typeof MESSAGES_TABLE | typeof DEAD_LETTERS_TABLE;

/**
 * One row on its way to a history table, already in the table's column
 * names. `insertId` is the envelope (or dead letter) id: the same on every
 * attempt, so the warehouse can drop a retried row it already has.
 */
export interface HistoryRow {
  readonly table: HistoryTable;
  readonly insertId: string;
  readonly json: Readonly<Record<string, string | boolean | null>>;
  /** Encoded size, for batch and buffer limits. */
  readonly bytes: number;
}

function sized(table: HistoryTable, insertId: string, all: Record<string, string | boolean | null>): HistoryRow {
  // NULL columns are left out: the same in the table, and a row only names
  // the columns it fills, so a column the table lacks refuses only the rows
  // that carry a value for it.
  const json: Record<string, string | boolean | null> = {};
  for (const [k, v] of Object.entries(all)) if (v !== null && v !== undefined) json[k] = v;
  // insertId, braces and keys: the JSON text is what goes over the wire.
  return { table, insertId, json, bytes: Buffer.byteLength(JSON.stringify(json)) + insertId.length + 32 };
}

export function messageRow(e: Envelope): HistoryRow {
  const json: Record<string, string | boolean | null> = {
    envelope_id: e.id,
    message_type: e.type,
    root_field: e.rootField,
    received_at: e.receivedAt,
    source: e.source,
  };
  for (const k of ENTITY_KEYS) json[keyColumn(k)] = e.keys[k] ?? null;
  // A JSON column takes the value as JSON text; an object would be read as a RECORD.
  json.payload = JSON.stringify(e.payload);
  json.protocol = e.protocol;
  json.connection_id = e.connectionId;
  json.instance_id = e.instanceId;
  // NULL for live rows, so a table not yet given the column refuses only reconciled rows.
  json.delivery = e.delivery === 'reconciled' ? 'reconciled' : null;
  return sized(MESSAGES_TABLE, e.id, json);
}

export function deadLetterRow(d: DeadLetter): HistoryRow {
  return sized(DEAD_LETTERS_TABLE, d.id, {
    dead_letter_id: d.id,
    received_at: d.receivedAt,
    reason: d.reason,
    detail: d.detail,
    raw: d.raw,
    raw_truncated: d.rawTruncated,
    root_field: d.rootField,
    message_type: d.type,
    source: d.source,
    connection_id: d.connectionId,
    instance_id: d.instanceId,
  });
}

/** Rebuilds a row from its stored or spilled form (replay). */
export function restoreRow(table: HistoryTable, insertId: string, json: Record<string, string | boolean | null>): HistoryRow {
  return sized(table, insertId, json);
}

/**
 * The dead letter for a message row the warehouse refused as invalid. `raw`
 * holds the whole row, so `npm run replay-history -- --source dead-letters`
 * can put it back with its original insertId once the cause is fixed.
 */
export function rejectedRowDeadLetter(row: HistoryRow, reason: string, at: Date = new Date()): HistoryRow {
  const s = (k: string): string | null => (typeof row.json[k] === 'string' ? (row.json[k] as string) : null);
  const dl = makeDeadLetter(
    'history-rejected',
    `${row.table} refused row ${row.insertId}: ${reason}`,
    JSON.stringify({ table: row.table, insertId: row.insertId, json: row.json }),
    {
      source: s('source') ?? 'unknown',
      protocol: null,
      connectionId: s('connection_id') ?? '',
      instanceId: s('instance_id') ?? '',
    },
    undefined,
    at,
  );
  return deadLetterRow({ ...dl, rootField: s('root_field'), type: s('message_type') });
}

/** Reads back what rejectedRowDeadLetter wrote; null when `raw` is not such a row (or was cut). */
export function rowFromRejectedRaw(raw: string): HistoryRow | null {
  try {
    const v = JSON.parse(raw) as { table?: unknown; insertId?: unknown; json?: unknown };
    if (v.table !== MESSAGES_TABLE || typeof v.insertId !== 'string' || !v.json || typeof v.json !== 'object') return null;
    return restoreRow(MESSAGES_TABLE, v.insertId, v.json as Record<string, string | boolean | null>);
  } catch {
    return null;
  }
}
