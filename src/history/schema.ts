import { ENTITY_KEYS, keyColumn } from '../catalog/catalog.js';

/**
 * History table layout, derived from the catalog and shared by the BigQuery
 * writer, the DuckDB store and the CDKTF stack.
 */
export type ColumnType = 'STRING' | 'TIMESTAMP' | 'JSON' | 'BOOLEAN' | 'INTEGER';

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly mode: 'REQUIRED' | 'NULLABLE';
  readonly description: string;
}

export const MESSAGES_TABLE = 'tote_messages';

/** Set only on rows whose text held lone UTF-16 surrogates (see src/history/well-formed.ts). */
export const ORIGINAL_TEXT_COLUMN = 'original_text';
const ORIGINAL_TEXT: Column = {
  name: ORIGINAL_TEXT_COLUMN,
  type: 'STRING',
  mode: 'NULLABLE',
  description:
    'Only when a text value held lone UTF-16 surrogates (stored as U+FFFD): a JSON object of those columns as they were, surrogates escaped',
};
export const DEAD_LETTERS_TABLE = 'tote_dead_letters';

export const MESSAGE_COLUMNS: readonly Column[] = [
  { name: 'envelope_id', type: 'STRING', mode: 'REQUIRED', description: 'UUIDv7 envelope id; also the streaming insertId' },
  { name: 'message_type', type: 'STRING', mode: 'REQUIRED', description: 'Tote message type, e.g. PoolTotalChanged' },
  { name: 'root_field', type: 'STRING', mode: 'REQUIRED', description: 'GraphQL subscription root field' },
  { name: 'received_at', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When the subscriber read the frame' },
  { name: 'source', type: 'STRING', mode: 'REQUIRED', description: 'tote, simulator or test' },
  ...ENTITY_KEYS.map((k): Column => ({ name: keyColumn(k), type: 'STRING', mode: 'NULLABLE', description: `Entity key ${k}` })),
  { name: 'payload', type: 'JSON', mode: 'REQUIRED', description: 'The message exactly as Tote sent it' },
  { name: 'protocol', type: 'STRING', mode: 'NULLABLE', description: 'graphql-ws or graphql-transport-ws' },
  { name: 'connection_id', type: 'STRING', mode: 'NULLABLE', description: 'Upstream socket the message arrived on' },
  { name: 'instance_id', type: 'STRING', mode: 'NULLABLE', description: 'Subscriber instance' },
  {
    name: 'delivery',
    type: 'STRING',
    mode: 'NULLABLE',
    description: 'reconciled when recovered from the query gateway after a reconnect; NULL for live messages',
  },
  ORIGINAL_TEXT,
];

export const DEAD_LETTER_COLUMNS: readonly Column[] = [
  { name: 'dead_letter_id', type: 'STRING', mode: 'REQUIRED', description: 'UUIDv7; also the streaming insertId' },
  { name: 'received_at', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When the bad input was read' },
  { name: 'reason', type: 'STRING', mode: 'REQUIRED', description: 'Why it was dead-lettered' },
  { name: 'detail', type: 'STRING', mode: 'NULLABLE', description: 'Human-readable detail' },
  { name: 'raw', type: 'STRING', mode: 'NULLABLE', description: 'Raw text, cut to 64 KiB' },
  { name: 'raw_truncated', type: 'BOOLEAN', mode: 'NULLABLE', description: 'True when raw was cut' },
  { name: 'root_field', type: 'STRING', mode: 'NULLABLE', description: 'Root field, when known' },
  { name: 'message_type', type: 'STRING', mode: 'NULLABLE', description: 'Message type, when known' },
  { name: 'source', type: 'STRING', mode: 'NULLABLE', description: 'tote, simulator or test' },
  { name: 'connection_id', type: 'STRING', mode: 'NULLABLE', description: 'Upstream socket' },
  { name: 'instance_id', type: 'STRING', mode: 'NULLABLE', description: 'Subscriber instance' },
  ORIGINAL_TEXT,
];

export const NAMES_TABLE = 'tote_names';

/**
 * The day card (reference data: venues, races, runners, products), one row
 * per named thing, written when it first appears or changes. The views take
 * the latest row per id (sql/views/v_*_names.sql).
 */
export const NAME_COLUMNS: readonly Column[] = [
  { name: 'name_id', type: 'STRING', mode: 'REQUIRED', description: 'Hash of what the row says and when; also the streaming insertId' },
  { name: 'received_at', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When the day card saying this was fetched' },
  { name: 'kind', type: 'STRING', mode: 'REQUIRED', description: 'event, runner, product (one row per leg) or selection' },
  { name: 'event_id', type: 'STRING', mode: 'NULLABLE', description: 'Event (race): kinds event, runner, product' },
  { name: 'competitor_id', type: 'STRING', mode: 'NULLABLE', description: 'Runner: kinds runner, selection' },
  { name: 'product_id', type: 'STRING', mode: 'NULLABLE', description: 'Product (pool): kinds product, selection' },
  { name: 'selection_id', type: 'STRING', mode: 'NULLABLE', description: "A product's selection: kind selection" },
  { name: 'venue', type: 'STRING', mode: 'NULLABLE', description: 'Venue (course or track) of the event' },
  { name: 'event_name', type: 'STRING', mode: 'NULLABLE', description: 'Race name' },
  { name: 'scheduled_start', type: 'TIMESTAMP', mode: 'NULLABLE', description: 'Scheduled start (off time) of the event' },
  { name: 'event_status', type: 'STRING', mode: 'NULLABLE', description: 'Event status on the card' },
  { name: 'runner_name', type: 'STRING', mode: 'NULLABLE', description: 'Horse or greyhound' },
  { name: 'runner_number', type: 'INTEGER', mode: 'NULLABLE', description: 'Cloth or trap number' },
  { name: 'product_name', type: 'STRING', mode: 'NULLABLE', description: "Product's name on the card" },
  { name: 'bet_type', type: 'STRING', mode: 'NULLABLE', description: 'Bet type code, e.g. WIN, PLACE, EXACTA' },
  { name: 'product_status', type: 'STRING', mode: 'NULLABLE', description: 'Selling status on the card' },
  { name: 'leg_number', type: 'INTEGER', mode: 'NULLABLE', description: '1-based leg of the product (kind product)' },
  {
    name: 'card_truncated',
    type: 'BOOLEAN',
    mode: 'NULLABLE',
    description: 'True when the card it came from was cut at its page or size limits',
  },
  ORIGINAL_TEXT,
];

/** Every history table, in the order they are created. */
export const HISTORY_TABLE_DEFS: readonly { readonly name: string; readonly columns: readonly Column[]; readonly description: string }[] = [
  { name: MESSAGES_TABLE, columns: MESSAGE_COLUMNS, description: 'One row per Tote message (envelope)' },
  { name: DEAD_LETTERS_TABLE, columns: DEAD_LETTER_COLUMNS, description: 'One row per dead letter, with the reason' },
  { name: NAMES_TABLE, columns: NAME_COLUMNS, description: 'Names of venues, races, runners and products from the day card' },
];

/** Day partitions on received_at; clustering puts one type's rows for one product together. */
export const PARTITION_COLUMN = 'received_at';
export const CLUSTER_COLUMNS = ['message_type', 'product_id', 'event_id', 'bet_id'] as const;
