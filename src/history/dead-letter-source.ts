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
 * record of what happened; a row refused again is only counted
 * (fromDeadLetters), so the table does not grow with each run.
 *
 * Each original row is handed out once per run however many dead letters
 * hold it (a row refused at write time and again by an older replay): the
 * run remembers the insertIds it has read, one short string per distinct
 * refused row (about 100 bytes each: a million refused rows hold ~100 MB, so
 * narrow a replay of more with --since). Dead letters written after the run
 * started (`until`) are left for the next run, so a run always ends.
 */
export class DeadLetterSource implements ReplaySource {
  readonly fromDeadLetters = true;
  private readonly iterator: AsyncIterator<DeadLetterRecord>;
  private readonly seenIds = new Set<string>();

  constructor(
    readonly name: string,
    records: AsyncIterable<DeadLetterRecord>,
    private readonly since: Date,
    private readonly until: Date = new Date(),
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
      if (d.reason !== 'history-rejected' || d.receivedAt < this.since || d.receivedAt > this.until) continue;
      seen++;
      const row = d.raw ? rowFromRejectedRaw(d.raw) : null;
      if (!row)
        unreadable++; // cut at 64 KiB or not a row: the dead letter itself is the record
      else if (!this.seenIds.has(row.insertId)) {
        this.seenIds.add(row.insertId);
        rows.push(row);
      }
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
      yield {
        reason: typeof r.reason === 'string' ? r.reason : '',
        raw: (r.raw as string | null) ?? null,
        receivedAt: new Date(typeof ts === 'string' ? ts : (ts?.value ?? 0)),
      };
    }
    query = next;
  }
}

/**
 * The DuckDB dead-letter table, in pages by dead_letter_id (a UUIDv7: time
 * ordered), up to the last id present when the read starts, so rows added
 * meanwhile neither shift the pages nor keep the read going.
 */
export async function* duckdbDeadLetters(store: DuckDbStore, since: Date, pageRows = 1000): AsyncGenerator<DeadLetterRecord> {
  const filter = `reason = 'history-rejected' AND received_at >= ?::TIMESTAMPTZ`;
  const [top] = await store.query(`SELECT MAX(dead_letter_id) AS id FROM tote_dead_letters WHERE ${filter}`, [since.toISOString()]);
  const last = (top?.id as string | null | undefined) ?? null;
  if (last === null) return;
  for (let after = ''; ;) {
    const rows = await store.query(
      `SELECT dead_letter_id, reason, raw, CAST(received_at AS VARCHAR) AS received_at FROM tote_dead_letters
       WHERE ${filter} AND dead_letter_id > ? AND dead_letter_id <= ? ORDER BY dead_letter_id LIMIT ${pageRows}`,
      [since.toISOString(), after, last],
    );
    for (const r of rows)
      yield {
        reason: String(r.reason),
        raw: (r.raw as string | null) ?? null,
        receivedAt: new Date(String(r.received_at).replace(' ', 'T').replace(/\+00$/, 'Z')),
      };
    if (rows.length < pageRows) return;
    after = String(rows[rows.length - 1]!.dead_letter_id);
  }
}
