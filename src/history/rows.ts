import { ENTITY_KEYS, keyColumn, type EntityKey } from '../catalog/catalog.js';
import { makeDeadLetter, type DeadLetter, type Envelope } from '../envelope/envelope.js';
import { createHash } from 'node:crypto';
import type { DayCard } from '../day-card/day-card.js';
import {
  DEAD_LETTER_COLUMNS,
  DEAD_LETTERS_TABLE,
  MESSAGE_COLUMNS,
  MESSAGES_TABLE,
  NAME_COLUMNS,
  NAMES_TABLE,
  ORIGINAL_TEXT_COLUMN,
} from './schema.js';
import { storableText } from './well-formed.js';

export type HistoryTable = typeof MESSAGES_TABLE | typeof DEAD_LETTERS_TABLE | typeof NAMES_TABLE;

export const HISTORY_TABLE_NAMES: readonly HistoryTable[] = [MESSAGES_TABLE, DEAD_LETTERS_TABLE, NAMES_TABLE];

export function isHistoryTable(t: unknown): t is HistoryTable {
  return HISTORY_TABLE_NAMES.includes(t as HistoryTable);
}

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

const JSON_COLUMNS: Record<HistoryTable, ReadonlySet<string>> = {
  [MESSAGES_TABLE]: new Set(MESSAGE_COLUMNS.filter((c) => c.type === 'JSON').map((c) => c.name)),
  [DEAD_LETTERS_TABLE]: new Set(DEAD_LETTER_COLUMNS.filter((c) => c.type === 'JSON').map((c) => c.name)),
  [NAMES_TABLE]: new Set(NAME_COLUMNS.filter((c) => c.type === 'JSON').map((c) => c.name)),
};

function sized(table: HistoryTable, insertId: string, all: Record<string, string | boolean | null>): HistoryRow {
  // NULL columns are left out: the same in the table, and a row only names
  // the columns it fills, so a column the table lacks refuses only the rows
  // that carry a value for it.
  const json: Record<string, string | boolean | null> = {};
  let originals: Record<string, string> | null = null;
  // The size of JSON.stringify(json), counted as the row is built rather
  // than by serialising it again: `{`, then `"key":value,` per column, the
  // last comma standing for `}`.
  let size = 1;
  for (const k in all) {
    const v = all[k];
    if (v === null || v === undefined) continue;
    let out = v;
    if (typeof v === 'string' && k !== ORIGINAL_TEXT_COLUMN) {
      // Lone surrogates would make the store refuse (or mangle) the row: store U+FFFD, keep the original beside it.
      out = storableText(v, JSON_COLUMNS[table].has(k));
      if (out !== v) (originals ??= {})[k] = v;
    }
    json[k] = out;
    size += columnBytes(k, out);
  }
  if (originals) {
    // JSON.stringify escapes lone surrogates, so this text is well-formed and gives the originals back exactly.
    const text = JSON.stringify(originals);
    const replaced = json[ORIGINAL_TEXT_COLUMN];
    if (replaced !== undefined && replaced !== null) size -= columnBytes(ORIGINAL_TEXT_COLUMN, replaced);
    json[ORIGINAL_TEXT_COLUMN] = text;
    size += columnBytes(ORIGINAL_TEXT_COLUMN, text);
  }
  // insertId, braces and keys: the JSON text is what goes over the wire.
  return { table, insertId, json, bytes: Math.max(2, size) + insertId.length + 32 };
}

/** Text JSON.stringify writes as is between its quotes: printable ASCII but `"` and `\`. */
const PLAIN_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Bytes of `"key":value,` in the row's JSON text (column names are plain ASCII). */
function columnBytes(key: string, v: string | boolean): number {
  let value: number;
  if (typeof v === 'boolean') value = v ? 4 : 5;
  else if (PLAIN_TEXT.test(v)) value = v.length + 2;
  else value = Buffer.byteLength(JSON.stringify(v));
  return key.length + 4 + value;
}

/** Entity keys and their columns, worked out once rather than per row. */
const KEY_COLUMNS: readonly (readonly [EntityKey, string])[] = ENTITY_KEYS.map((k) => [k, keyColumn(k)] as const);

export function messageRow(e: Envelope): HistoryRow {
  const json: Record<string, string | boolean | null> = {
    envelope_id: e.id,
    message_type: e.type,
    root_field: e.rootField,
    received_at: e.receivedAt,
    source: e.source,
  };
  for (const [k, column] of KEY_COLUMNS) json[column] = e.keys[k] ?? null;
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

type NameFields = Record<string, string | boolean | null>;

/**
 * The day card as rows of the names table, each with the id of the thing it
 * names (`key`) and what it says about it (`content`, without the time):
 * the sink writes a row only when its content differs from the last written
 * for that key.
 */
export function dayCardNameRows(card: DayCard, at: Date = new Date()): { key: string; content: string; row: HistoryRow }[] {
  const receivedAt = at.toISOString();
  const truncated = card.truncated || null;
  const out: { key: string; content: string; row: HistoryRow }[] = [];
  const add = (key: string, fields: NameFields) => {
    const content = JSON.stringify(fields);
    const nameId = createHash('sha256').update(`${content}\n${receivedAt}`).digest('hex').slice(0, 32);
    out.push({
      key,
      content,
      row: sized(NAMES_TABLE, nameId, { name_id: nameId, received_at: receivedAt, ...fields, card_truncated: truncated }),
    });
  };
  for (const e of card.events) {
    add(`e:${e.id}`, {
      kind: 'event',
      event_id: e.id,
      venue: e.venue || null,
      event_name: e.name || null,
      scheduled_start: e.scheduledStart || null,
      event_status: e.status || null,
    });
    for (const c of e.competitors) {
      add(`r:${e.id}:${c.id}`, {
        kind: 'runner',
        event_id: e.id,
        competitor_id: c.id,
        runner_name: c.name || null,
        runner_number: c.number === null ? null : String(c.number),
      });
    }
  }
  for (const p of card.products) {
    p.eventIds.forEach((eventId, i) => {
      add(`p:${p.id}:${i + 1}`, {
        kind: 'product',
        product_id: p.id,
        leg_number: String(i + 1),
        event_id: eventId,
        product_name: p.name || null,
        bet_type: p.betType || null,
        product_status: p.status || null,
      });
    });
    for (const s of p.selections)
      add(`s:${p.id}:${s.id}`, { kind: 'selection', product_id: p.id, selection_id: s.id, competitor_id: s.competitorId });
  }
  return out;
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
  const s = (k: string): string | null => (typeof row.json[k] === 'string' ? row.json[k] : null);
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
