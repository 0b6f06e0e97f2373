import { InsertAllError, InsertTimeoutError } from './errors.js';

/** One row of tabledata.insertAll: raw, so the insertId on the wire is always the envelope id. */
export interface InsertAllRow {
  readonly insertId: string;
  readonly json: Readonly<Record<string, unknown>>;
}

export interface InsertAllRequest {
  /** `https://bigquery.googleapis.com/bigquery/v2` or a stand-in's equivalent. */
  readonly baseUrl: string;
  /** Resolved inside the time bound: without a configured project the credentials name it. */
  readonly projectId: () => Promise<string>;
  readonly dataset: string;
  readonly table: string;
  readonly rows: readonly InsertAllRow[];
  readonly skipInvalidRows: boolean;
  readonly ignoreUnknownValues: boolean;
  /** Credentials for this URL (an Authorization header, perhaps x-goog-user-project). */
  readonly headers: (url: string) => Promise<Headers>;
  readonly timeoutMs: number;
}

/** insertErrors of a 200 answer: per row, why it was not stored. */
export interface RowInsertError {
  readonly index: number;
  readonly errors: readonly { readonly reason?: string; readonly message?: string }[];
}

/**
 * One tabledata.insertAll call. Posted with fetch rather than the client's
 * `table.insert`, because that path (@google-cloud/common, retry-request,
 * teeny-request, node-fetch 3) ignores `timeout` and drops an AbortSignal, so
 * a request that timed out could only be abandoned, keeping its socket open.
 * Never retried here: retries are the writer's to count and bound.
 *
 * The answer is read whole: BigQuery sends at most one insertErrors entry per
 * row of the batch, and the batch is bounded (HISTORY_BATCH_MAX_ROWS).
 */
export async function insertAll(req: InsertAllRequest): Promise<readonly RowInsertError[]> {
  const body = JSON.stringify({ skipInvalidRows: req.skipInvalidRows, ignoreUnknownValues: req.ignoreUnknownValues, rows: req.rows });
  return withTimeout(req.timeoutMs, async (signal) => {
    const path = ['projects', await req.projectId(), 'datasets', req.dataset, 'tables', req.table].map(encodeURIComponent).join('/');
    const url = `${req.baseUrl.replace(/\/+$/, '')}/${path}/insertAll?prettyPrint=false`;
    const headers = await req.headers(url);
    headers.set('content-type', 'application/json');
    let status: number;
    let text: string;
    try {
      const res = await fetch(url, { method: 'POST', headers, body, signal });
      status = res.status;
      text = await res.text();
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new InsertAllError(req.table, undefined, [], `insertAll request failed: ${cause ?? (err as Error).message}`);
    }
    return answer(req.table, status, text);
  });
}

/** Reads an answer the way BigQuery writes them: `{ insertErrors? }` on 200, `{ error: { code, message, errors } }` otherwise. */
function answer(table: string, status: number, text: string): readonly RowInsertError[] {
  let parsed: { insertErrors?: RowInsertError[]; error?: { message?: string; errors?: { reason?: string; message?: string }[] } } | null =
    null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // A proxy's HTML page, a cut-off body: the text itself is the best message.
  }
  const error = parsed?.error;
  if (status >= 200 && status < 300 && parsed && !error) return parsed.insertErrors ?? [];
  const errors = error?.errors ?? [];
  const messages = new Set([error?.message, ...errors.map((e) => e.message)].filter((m): m is string => !!m));
  const message = messages.size ? [...messages].join('; ') : text.slice(0, 500) || `HTTP ${status} with an empty body`;
  throw new InsertAllError(table, status, errors, message);
}

/**
 * Bounds one request and cancels it when the bound passes: the signal aborts
 * fetch, which closes the request's socket, so a BigQuery that stops answering
 * (a black-holed outage) leaves no connections behind however many attempts
 * time out. The answer of a request cut off this way is never seen; the retry
 * carries the same insertIds, so if BigQuery had stored the rows the retry is
 * dropped within its dedupe minute. Fetching credentials cannot take the
 * signal (google-auth-library refreshes a token, or finds the project, with
 * its own requests), so it is raced against the bound instead: a refresh that
 * hangs is abandoned, and only that one request stays open.
 */
async function withTimeout<T>(ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timeout = new InsertTimeoutError(ms);
  const timedOut = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(timeout), { once: true });
  });
  const timer = setTimeout(() => controller.abort(timeout), ms);
  const work = run(controller.signal);
  work.catch(() => {}); // a failure after the timeout is not an unhandled rejection
  try {
    return await Promise.race([work, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
