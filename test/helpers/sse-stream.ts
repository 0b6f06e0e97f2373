import { request, type IncomingHttpHeaders, type IncomingMessage, type ClientRequest } from 'node:http';
import { waitFor } from './ports.js';

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * A real HTTP client for text/event-stream that parses frames the way the
 * WHATWG spec (and EventSource) does, and keeps the raw text for assertions
 * on the exact bytes.
 */
export class SseStream {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  raw = '';
  ended = false;
  /** The id EventSource would send as Last-Event-ID on reconnect. */
  lastEventId: string | undefined;
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  private hasId = false;

  private constructor(
    readonly req: ClientRequest,
    readonly res: IncomingMessage,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => this.feed(chunk));
    res.on('end', () => (this.ended = true));
    res.on('close', () => (this.ended = true));
    res.on('error', () => (this.ended = true));
    req.on('error', () => (this.ended = true));
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  get headers(): IncomingHttpHeaders {
    return this.res.headers;
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => resolve(new SseStream(req, res)));
      req.on('error', reject);
      req.end();
    });
  }

  private feed(chunk: string): void {
    this.raw += chunk;
    this.buffer += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) return;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.hasId) this.lastEventId = this.id;
      if (this.data.length)
        this.events.push({ id: this.hasId ? this.id : undefined, event: this.event || 'message', data: this.data.join('\n') });
      this.data = [];
      this.event = '';
      this.hasId = false;
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) {
      this.id = value;
      this.hasId = true;
    } else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }

  /** Events with an id (feed messages), in arrival order. */
  get ids(): string[] {
    return this.events.filter((e) => e.id !== undefined).map((e) => e.id!);
  }

  named(event: string): SseEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  async waitForEvents(n: number, timeoutMs = 10_000): Promise<SseEvent[]> {
    await waitFor(() => this.events.length >= n, { timeoutMs, what: () => `${n} SSE events (have ${this.events.length})` });
    return this.events;
  }

  async waitForEnd(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.ended, { timeoutMs, what: 'stream end' });
  }

  pause(): void {
    this.res.pause();
  }

  close(): void {
    this.req.destroy();
    this.res.destroy();
  }
}

/** Opens a stream and fails the test with the body when it is not a 200 event stream. */
export async function openStream(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const s = await SseStream.open(url, headers);
  await waitFor(() => s.raw.includes('\n\n') || s.ended, { what: 'first SSE frame' });
  return s;
}
