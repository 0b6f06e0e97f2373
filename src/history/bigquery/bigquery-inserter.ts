import { BigQuery, type BigQueryOptions } from '@google-cloud/bigquery';
import { allRetry, allStored, type InsertOutcome, type RowInserter } from '../inserter.js';
import type { HistoryRow, HistoryTable } from '../rows.js';
import { classifyRequestError, classifyRowReason } from './errors.js';
import { insertAll, type RowInsertError } from './insert-all.js';

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
 * Streaming inserts with raw rows, so the insertId on the wire is always the
 * envelope id, posted by insertAll() so that a request that times out is
 * cancelled. The @google-cloud/bigquery client still decides where requests
 * go and with which credentials (its endpoint, BIGQUERY_EMULATOR_HOST,
 * Application Default Credentials or the authClient it is given), but sends
 * none of them, so none of its retries apply: they are not ours to count or
 * bound.
 */
export class BigQueryInserter implements RowInserter {
  readonly name = 'bigquery';
  private readonly bigquery: BigQuery;

  constructor(private readonly opts: BigQueryInserterOptions) {
    this.bigquery = new BigQuery({
      ...(opts.projectId ? { projectId: opts.projectId } : {}),
      ...(opts.apiEndpoint ? { apiEndpoint: opts.apiEndpoint } : {}),
      ...opts.clientOptions,
    });
  }

  async connect(): Promise<void> {
    // No round trip here: a missing table or dataset shows up as a retryable
    // insert failure (and in /status) rather than stopping the subscriber.
  }

  async insert(table: HistoryTable, rows: readonly HistoryRow[]): Promise<InsertOutcome> {
    let insertErrors: readonly RowInsertError[];
    try {
      insertErrors = await insertAll({
        baseUrl: this.bigquery.baseUrl,
        // Without a configured project the client's credentials name it (ADC).
        projectId: async () => this.opts.projectId || this.bigquery.getProjectId(),
        dataset: this.opts.dataset,
        table,
        rows: rows.map((r) => ({ insertId: r.insertId, json: r.json })),
        // One bad row must not hold back the other 499 of its batch.
        skipInvalidRows: true,
        // A column the table lacks is schema drift: refuse the row (it can be replayed after the fix).
        ignoreUnknownValues: false,
        headers: (url) => this.bigquery.authClient.getRequestHeaders(url),
        timeoutMs: this.opts.requestTimeoutMs,
      });
    } catch (err) {
      const c = classifyRequestError(err);
      if (c.kind === 'retry') return allRetry(rows, c.message);
      // A whole request refused (too large, one malformed row): halve it until the bad row stands alone.
      if (rows.length > 1) {
        const mid = Math.ceil(rows.length / 2);
        return merge(await this.insert(table, rows.slice(0, mid)), await this.insert(table, rows.slice(mid)));
      }
      return { stored: [], invalid: rows.map((row) => ({ row, reason: c.message })), retry: [], error: null };
    }
    return insertErrors.length ? rowOutcome(rows, insertErrors) : allStored(rows);
  }

  async close(): Promise<void> {}
}

/** A 200 answer with insertErrors: the rows it names failed, every other row is stored. */
function rowOutcome(rows: readonly HistoryRow[], insertErrors: readonly RowInsertError[]): InsertOutcome {
  const failed = new Map<number, { reason: string; message: string }>();
  for (const e of insertErrors) {
    // "stopped" only says a sibling failed; the sibling's reason is the one that tells.
    const first = e.errors.find((x) => x.reason && x.reason !== 'stopped') ?? e.errors[0];
    failed.set(e.index, { reason: first?.reason ?? 'unknown', message: first?.message ?? '' });
  }
  const stored: HistoryRow[] = [];
  const invalid: { row: HistoryRow; reason: string }[] = [];
  const retry: HistoryRow[] = [];
  let error: string | null = null;
  rows.forEach((row, i) => {
    const f = failed.get(i);
    if (!f) stored.push(row);
    else if (classifyRowReason(f.reason) === 'invalid') invalid.push({ row, reason: `${f.reason}: ${f.message}` });
    else {
      retry.push(row);
      error ??= `row error ${f.reason}${f.message ? `: ${f.message}` : ''}`;
    }
  });
  return { stored, invalid, retry, error };
}

function merge(a: InsertOutcome, b: InsertOutcome): InsertOutcome {
  return {
    stored: [...a.stored, ...b.stored],
    invalid: [...a.invalid, ...b.invalid],
    retry: [...a.retry, ...b.retry],
    error: a.error ?? b.error,
  };
}
