/**
 * SSE wire format (WHATWG HTML, "Server-sent events"). Every frame is built
 * once per event and shared by all clients, so framing errors are caught
 * here, before anything reaches a socket.
 */

/**
 * One event's bytes, built once and shared by every stream. Streams answer
 * HTTP/1.1 requests with chunked transfer coding; `chunk` is the event
 * already framed as one chunk, so each client costs one socket write of a
 * shared buffer rather than the four pieces (length, CRLF, data, CRLF) and
 * the cork/uncork that `ServerResponse.write` spends per call, which was
 * most of the service's write overhead in the CPU profile. `bytes` is a view
 * of the same memory without the chunk framing, for HTTP/1.0 clients.
 */
export class SseFrame {
  readonly chunk: Buffer;
  readonly bytes: Buffer;

  constructor(text: string) {
    const length = Buffer.byteLength(text, 'utf8');
    const head = `${length.toString(16)}\r\n`;
    this.chunk = Buffer.allocUnsafe(head.length + length + 2);
    this.chunk.write(head, 0, 'latin1');
    this.chunk.write(text, head.length, 'utf8');
    this.chunk.write('\r\n', head.length + length, 'latin1');
    this.bytes = this.chunk.subarray(head.length, head.length + length);
  }

  /** Bytes this frame puts on a chunked stream, what every per-client and history bound counts. */
  get length(): number {
    return this.chunk.length;
  }
}

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
export function eventFrame(event: string, data: string, id?: string): SseFrame {
  checkField('event', event);
  // An empty id is allowed: it resets the client's last event id.
  if (id !== undefined && id !== '') checkField('id', id);
  if (/[\r\n]/.test(data)) throw new SseFramingError('data', escaped(data));
  const head = id === undefined ? '' : id === '' ? 'id\n' : `id: ${id}\n`;
  return new SseFrame(`${head}event: ${event}\ndata: ${data}\n\n`);
}

/** First bytes of every stream: the reconnect delay for EventSource, and a comment so proxies see traffic at once. */
export function openingFrame(retryMs: number): SseFrame {
  return new SseFrame(`retry: ${Math.max(0, Math.floor(retryMs))}\n: connected\n\n`);
}

/** A comment line: ignored by EventSource, keeps proxies and load balancers from closing an idle stream. */
export const HEARTBEAT_FRAME: SseFrame = new SseFrame(': keep-alive\n\n');
