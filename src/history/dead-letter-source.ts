import type { Table } from '@google-cloud/bigquery';
import type { DuckDbStore } from './duckdb/duckdb-store.js';
import type { ReplayBatch, ReplaySource } from './replay.js';
import { rowFromRejectedRaw, type HistoryRow } from './rows.js';

export interface DeadLetterRecord {
  readonly reason: string;
  readonly raw: string | null;
  readonly receivedAt: Date;
}

/**
 * Message rows the store once refused (reason history-rejected), read back
 * from the dead-letter table, for replay after the cause is fixed (e.g. the
 * table has gained a column). The dead letters stay where they are, as the
 * record of what happened; replaying twice adds nothing (same insertId,
 * primary key locally, views dedupe on envelope_id).
 */
export class DeadLetterSource implements ReplaySource {
  private readonly iterator: AsyncIterator<DeadLetterRecord>;

  constructor(
    readonly name: string,
    records: AsyncIterable<DeadLetterRecord>,
    private readonly since: Date,
  ) {
    this.iterator = records[Symbol.asyncIterator]();
  }

  async next(max: number): Promise<ReplayBatch | null> {
    const rows: HistoryRow[] = [];
    let unreadable = 0;
    let seen = 0;
    while (rows.length < max) {
      const r = await this.iterator.next();
      if (r.done) break;
      const d = r.value;
      if (d.reason !== 'history-rejected' || d.receivedAt < this.since) continue;
      seen++;
      const row = d.raw ? rowFromRejectedRaw(d.raw) : null;
      if (row) rows.push(row);
      else unreadable++; // cut at 64 KiB or not a row: the dead letter itself is the record
    }
    if (!seen) return null;
    const nothing = async () => {};
    return { rows, unreadable, ack: nothing, release: nothing };
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

/** The BigQuery dead-letter table, page by page (tabledata.list; no query job). */
export async function* bigqueryDeadLetters(table: Table, pageRows = 1000): AsyncGenerator<DeadLetterRecord> {
  let query: Record<string, unknown> | null = { maxResults: pageRows, autoPaginate: false };
  while (query) {
    const [rows, next] = (await table.getRows(query)) as unknown as [Record<string, unknown>[], Record<string, unknown> | null];
    for (const r of rows) {
      const ts = r.received_at as { value?: string } | string | undefined;
      yield { reason: String(r.reason ?? ''), raw: (r.raw as string | null) ?? null, receivedAt: new Date(typeof ts === 'string' ? ts : (ts?.value ?? 0)) };
    }
    query = next;
  }
}

/** The DuckDB dead-letter table, in pages. */
export async function* duckdbDeadLetters(store: DuckDbStore, since: Date, pageRows = 1000): AsyncGenerator<DeadLetterRecord> {
  for (let offset = 0; ; offset += pageRows) {
    const rows = await store.query(
      `SELECT reason, raw, CAST(received_at AS VARCHAR) AS received_at FROM tote_dead_letters
       WHERE reason = 'history-rejected' AND received_at >= ?::TIMESTAMPTZ ORDER BY dead_letter_id LIMIT ${pageRows} OFFSET ${offset}`,
      [since.toISOString()],
    );
    for (const r of rows) yield { reason: String(r.reason), raw: (r.raw as string | null) ?? null, receivedAt: new Date(String(r.received_at).replace(' ', 'T').replace(/\+00$/, 'Z')) };
    if (rows.length < pageRows) return;
  }
}
