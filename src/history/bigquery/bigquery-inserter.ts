import { BigQuery, type BigQueryOptions, type Table } from '@google-cloud/bigquery';
import { allRetry, allStored, type InsertOutcome, type RowInserter } from '../inserter.js';
import type { HistoryRow, HistoryTable } from '../rows.js';
import { classifyRequestError, classifyRowReason } from './errors.js';

export interface BigQueryInserterOptions {
  projectId: string;
  dataset: string;
  requestTimeoutMs: number;
  /** A local stand-in for the BigQuery REST API (tests). */
  apiEndpoint?: string;
  /** Passed to the client as they are (e.g. authClient in tests). */
  clientOptions?: BigQueryOptions;
}

/**
 * Streaming inserts through the client's `table.insert` with raw rows, so the
 * insertId on the wire is always the envelope id. Every retry the client
 * could make on its own is switched off, because the client's retries are
 * not ours to count or bound: `partialRetries: 0` (it would re-send failed
 * rows itself) and `autoRetry: false` (request-level retries). With `raw`
 * the client never mints its random insertIds (createInsertId only applies
 * to non-raw rows).
 */
export class BigQueryInserter implements RowInserter {
  readonly name = 'bigquery';
  private readonly bigquery: BigQuery;
  private readonly tables = new Map<HistoryTable, Table>();

  constructor(private readonly opts: BigQueryInserterOptions) {
    const options: BigQueryOptions & { timeout: number } = {
      ...(opts.projectId ? { projectId: opts.projectId } : {}),
      ...(opts.apiEndpoint ? { apiEndpoint: opts.apiEndpoint } : {}),
      // Passed on for completeness; the HTTP layer under this client version
      // (teeny-request on node-fetch 3) ignores it, hence withTimeout below.
      timeout: opts.requestTimeoutMs,
      retryOptions: { autoRetry: false, maxRetries: 0 },
      ...opts.clientOptions,
    };
    this.bigquery = new BigQuery(options);
  }

  async connect(): Promise<void> {
    // No round trip here: a missing table or dataset shows up as a retryable
    // insert failure (and in /status) rather than stopping the subscriber.
  }

  private table(name: HistoryTable): Table {
    let t = this.tables.get(name);
    if (!t) {
      t = this.bigquery.dataset(this.opts.dataset).table(name);
      this.tables.set(name, t);
    }
    return t;
  }

  async insert(table: HistoryTable, rows: readonly HistoryRow[]): Promise<InsertOutcome> {
    const raw = rows.map((r) => ({ insertId: r.insertId, json: r.json }));
    try {
      await withTimeout(
        this.table(table).insert(raw, {
          raw: true,
          partialRetries: 0,
          // One bad row must not hold back the other 499 of its batch.
          skipInvalidRows: true,
          // A column the table lacks is schema drift: refuse the row (it can be replayed after the fix).
          ignoreUnknownValues: false,
        }),
        this.opts.requestTimeoutMs,
      );
      return allStored(rows);
    } catch (err) {
      const c = err && (err as { name?: string }).name === 'PartialFailureError' ? null : classifyRequestError(err);
      // A whole request refused (too large, one malformed row): halve it until the bad row stands alone.
      if (c?.kind === 'invalid' && rows.length > 1) {
        const mid = Math.ceil(rows.length / 2);
        return merge(await this.insert(table, rows.slice(0, mid)), await this.insert(table, rows.slice(mid)));
      }
      return this.outcomeOf(err, rows);
    }
  }

  private outcomeOf(err: unknown, rows: readonly HistoryRow[]): InsertOutcome {
    const partial = err as { name?: string; errors?: { row?: { insertId?: string }; errors?: { reason?: string; message?: string }[] }[] };
    if (partial?.name !== 'PartialFailureError' || !Array.isArray(partial.errors)) {
      const c = classifyRequestError(err);
      if (c.kind === 'invalid') return { stored: [], invalid: rows.map((row) => ({ row, reason: c.message })), retry: [], error: null };
      return allRetry(rows, c.message);
    }
    const failed = new Map<string, { reason: string; message: string }>();
    for (const e of partial.errors) {
      const id = e.row?.insertId;
      if (!id) continue;
      const first = e.errors?.find((x) => x.reason && x.reason !== 'stopped') ?? e.errors?.[0];
      failed.set(id, { reason: first?.reason ?? 'unknown', message: first?.message ?? '' });
    }
    const stored: HistoryRow[] = [];
    const invalid: { row: HistoryRow; reason: string }[] = [];
    const retry: HistoryRow[] = [];
    let error: string | null = null;
    for (const row of rows) {
      const f = failed.get(row.insertId);
      if (!f) stored.push(row);
      else if (classifyRowReason(f.reason) === 'invalid') invalid.push({ row, reason: `${f.reason}: ${f.message}` });
      else {
        retry.push(row);
        error ??= `row error ${f.reason}${f.message ? `: ${f.message}` : ''}`;
      }
    }
    return { stored, invalid, retry, error };
  }

  async close(): Promise<void> {}
}

function merge(a: InsertOutcome, b: InsertOutcome): InsertOutcome {
  return {
    stored: [...a.stored, ...b.stored],
    invalid: [...a.invalid, ...b.invalid],
    retry: [...a.retry, ...b.retry],
    error: a.error ?? b.error,
  };
}

export class InsertTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`insertAll did not answer within ${timeoutMs} ms`);
    this.name = 'InsertTimeoutError';
  }
}

/**
 * Bounds one request. The request itself cannot be aborted through this
 * client: @google-cloud/common returns its abort handle only on the stream
 * path and drops it on the callback path `table.insert` uses, and under it
 * teeny-request neither returns an abortable request nor hands a signal to
 * node-fetch 3 (which ignores `timeout`). So a timed-out request is left to
 * finish on its own and its answer is ignored; the retry carries the same
 * insertIds, so a late success is not a duplicate within BigQuery's dedupe
 * minute. Its socket stays open until BigQuery answers or the connection
 * dies: while BigQuery does not answer, every attempt that times out leaves
 * one socket open (one batch in flight per table, so at most two new ones
 * per timeout).
 */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new InsertTimeoutError(ms)), ms);
  });
  p.catch(() => {}); // an answer after the timeout is not an unhandled rejection
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
