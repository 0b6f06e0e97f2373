/**
 * The one place that decides whether a BigQuery failure may pass by itself
 * (retry, then spill) or never will (dead-letter the row). When in doubt,
 * retry: a retried row costs a request; a wrongly dead-lettered row costs a
 * replay. Nothing is ever dropped either way.
 */
export type FailureKind = 'retry' | 'invalid';

/** insertErrors[].errors[].reason of one row. */
export function classifyRowReason(reason: string): FailureKind {
  // "invalid": the row breaks the schema (unknown field, bad JSON, missing
  // required column). Everything else ("stopped" = not inserted because a
  // sibling failed, "timeout", "backendError", "internalError", quotas) is
  // about the moment, not the row.
  return reason === 'invalid' ? 'invalid' : 'retry';
}

/** A failure of the whole insertAll request. */
export function classifyRequestError(err: unknown): { kind: FailureKind; message: string } {
  const e = err as { code?: unknown; message?: unknown; errors?: { reason?: string }[]; type?: unknown } | null;
  const code = typeof e?.code === 'number' ? e.code : undefined;
  const reason = e?.errors?.find((x) => x?.reason)?.reason;
  const text = String(e?.message ?? err).slice(0, 500);
  const message = code ? `HTTP ${code}${reason ? ` ${reason}` : ''}: ${text}` : text;
  // 400 invalid / 413: this request will never pass as it is (too large, a malformed row).
  if (code === 413 || (code === 400 && (reason === 'invalid' || /payload size|too large/i.test(text)))) {
    return { kind: 'invalid', message };
  }
  // 404 (table or dataset not there yet), 401/403 (permissions, quota),
  // 408/429/5xx and network errors or timeouts (no code): someone can fix
  // these, or they pass; meanwhile the buffer and then the spill hold rows.
  return { kind: 'retry', message };
}

/** An insertAll request that failed as a whole: an HTTP error answer (code set) or no answer at all (code undefined). */
export class InsertAllError extends Error {
  constructor(
    readonly table: string,
    /** HTTP status; undefined when the request never got an answer (reset, refused). */
    readonly code: number | undefined,
    /** error.errors[] of BigQuery's answer; classifyRequestError reads their reasons. */
    readonly errors: readonly { readonly reason?: string; readonly message?: string }[],
    message: string,
  ) {
    super(message);
    this.name = 'InsertAllError';
  }
}

export class InsertTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`insertAll did not answer within ${timeoutMs} ms`);
    this.name = 'InsertTimeoutError';
  }
}
