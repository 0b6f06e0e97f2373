/**
 * SSE wire format (WHATWG HTML, "Server-sent events"). Every frame is built
 * once per event and shared by all clients, so framing errors are caught
 * here, before anything reaches a socket.
 */

/** CR, LF or NUL in `id` or `event` would start a new field or event (CWE-93 injection); NUL also voids an id. */
const UNSAFE_FIELD = /[\r\n\0]/;

export class SseFramingError extends Error {
  constructor(
    readonly field: 'id' | 'event' | 'data',
    /** The offending value with control characters escaped, safe to log. */
    readonly value: string,
  ) {
    super(`SSE ${field} contains CR, LF or NUL: ${value}`);
    this.name = 'SseFramingError';
  }
}

function escaped(value: string): string {
  return JSON.stringify(value.length > 200 ? value.slice(0, 200) + '…' : value);
}

export function checkField(field: 'id' | 'event', value: string): void {
  if (value.length === 0 || UNSAFE_FIELD.test(value)) throw new SseFramingError(field, escaped(value));
}

/**
 * One event. `data` must be a single line: JSON.stringify output always is
 * (it escapes CR and LF inside strings), and anything else is refused rather
 * than silently split.
 */
export function eventFrame(event: string, data: string, id?: string): Buffer {
  checkField('event', event);
  // An empty id is allowed: it resets the client's last event id.
  if (id !== undefined && id !== '') checkField('id', id);
  if (/[\r\n]/.test(data)) throw new SseFramingError('data', escaped(data));
  const head = id === undefined ? '' : id === '' ? 'id\n' : `id: ${id}\n`;
  return Buffer.from(`${head}event: ${event}\ndata: ${data}\n\n`, 'utf8');
}

/** First bytes of every stream: the reconnect delay for EventSource, and a comment so proxies see traffic at once. */
export function openingFrame(retryMs: number): Buffer {
  return Buffer.from(`retry: ${Math.max(0, Math.floor(retryMs))}\n: connected\n\n`, 'utf8');
}

/** A comment line: ignored by EventSource, keeps proxies and load balancers from closing an idle stream. */
export const HEARTBEAT_FRAME: Buffer = Buffer.from(': keep-alive\n\n', 'utf8');
