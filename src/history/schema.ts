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
export const DEAD_LETTERS_TABLE = 'tote_dead_letters';

export const MESSAGE_COLUMNS: readonly Column[] = [
  { name: 'envelope_id', type: 'STRING', mode: 'REQUIRED', description: 'UUIDv7 envelope id; also the streaming insertId' },
  { name: 'message_type', type: 'STRING', mode: 'REQUIRED', description: 'Tote message type, e.g. PoolTotalChanged' },
  { name: 'root_field', type: 'STRING', mode: 'REQUIRED', description: 'GraphQL subscription root field' },
  { name: 'received_at', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When the subscriber read the frame' },
  { name: 'source', type: 'STRING', mode: 'REQUIRED', description: 'tote, simulator or test' },
  ...ENTITY_KEYS.map(
    (k): Column => ({ name: keyColumn(k), type: 'STRING', mode: 'NULLABLE', description: `Entity key ${k}` }),
  ),
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
];

/** Day partitions on received_at; clustering puts one type's rows for one product together. */
export const PARTITION_COLUMN = 'received_at';
export const CLUSTER_COLUMNS = ['message_type', 'product_id', 'event_id', 'bet_id'] as const;
