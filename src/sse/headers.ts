/**
 * Response headers of every event stream, one frozen constant so no route
 * can forget one. `no-transform` stops compression middleware and CDNs from
 * buffering the stream; `X-Accel-Buffering: no` does the same for nginx.
 */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'private, no-cache, no-store, no-transform, must-revalidate, max-age=0',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
  Pragma: 'no-cache',
});

/** JSON answers that change every second must not be cached by a proxy either. */
export const NO_STORE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Cache-Control': 'no-store',
});
