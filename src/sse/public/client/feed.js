// @ts-check
// A client for the SSE service, for browsers and Node (18+): reads /config.json, loads /snapshot, then
// streams /events from the snapshot's id, so it starts complete and misses nothing in between. It
// resumes after a cut from the last id it saw, reloads and merges /snapshot on `resync`, drops repeats,
// and replaces a stream that has gone silent for longer than three heartbeats.
//
// It reads the stream with fetch rather than EventSource, so the same code runs in Node, can send
// headers (e.g. Authorization), sees HTTP errors, and owns its reconnect policy.

import { FeedStore } from './store.js';

/** @typedef {import('../../contract/types.js').DashboardConfig} FeedConfig */
/** @typedef {import('../../contract/types.js').SnapshotResponse} SnapshotResponse */
/** @typedef {import('../../contract/types.js').StreamEnvelope} StreamEnvelope */
/** @typedef {import('../../contract/types.js').ResyncEvent} ResyncEvent */
/** @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} FeedState */
/**
 * @typedef {object} FeedOptions
 * @property {string | URL} [baseUrl] the SSE service, e.g. `https://tote-sse.example.run.app/`; default: the page's own directory
 * @property {typeof fetch} [fetch] default: the global fetch
 * @property {Record<string, string>} [headers] sent with every request (e.g. Authorization)
 * @property {string[]} [types] only these message types (the server filters)
 * @property {string[]} [productIds] only messages about these products or `eventIds`
 * @property {string[]} [eventIds] only messages about these races or `productIds`
 * @property {(config: FeedConfig) => FeedStore} [store] builds the store the feed merges into; default a FeedStore
 * @property {(env: StreamEnvelope) => void} [onMessage] each new envelope, after the store applied it (repeats are not passed on)
 * @property {(snap: SnapshotResponse) => void} [onSnapshot] after a snapshot was merged into the store
 * @property {(version: number) => void} [onNames] the day card changed on the server (GET /names for it)
 * @property {(state: FeedState, detail: { error?: string }) => void} [onState]
 * @property {number} [maxRetryMs] longest wait between reconnects (default 15 s)
 */

/** Waits used when the server gives no `retry:` hint, and the ceiling of the backoff. */
const DEFAULT_RETRY_MS = 2000;
const DEFAULT_MAX_RETRY_MS = 15_000;
/** A stream that has sent nothing (not even a heartbeat) for this many heartbeats is taken as dead. */
const SILENT_HEARTBEATS = 3;

/** @param {number} ms @param {AbortSignal} signal */
const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve(undefined)), { once: true });
  });

/** An error the client does not retry: the request itself is wrong (e.g. an unknown message type). */
export class FeedRequestError extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.name = 'FeedRequestError';
    this.status = status;
  }
}

export class ToteFeed {
  /** @param {FeedOptions} [o] */
  constructor(o = {}) {
    this.o = o;
    const base = o.baseUrl ?? (typeof location !== 'undefined' ? new URL('.', location.href) : undefined);
    if (!base) throw new TypeError('ToteFeed: baseUrl is required outside a browser page');
    this.base = new URL(String(base));
    if (!this.base.pathname.endsWith('/')) this.base.pathname += '/';
    this.fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    /** @type {FeedState} */
    this.state = 'connecting';
    /** @type {string | null} */
    this.lastEventId = null;
    /** @type {FeedConfig | null} */
    this.config = null;
    /** @type {FeedStore | null} */
    this.store = null;
    this.connects = 0;
    this.resyncs = 0;
    this.retryMs = DEFAULT_RETRY_MS;
    this.closed = new AbortController();
    /** @type {Promise<void> | null} */
    this.running = null;
  }

  /** @param {string} path */
  url(path) {
    return new URL(path, this.base);
  }

  /** @param {string} path @param {AbortSignal} [signal] */
  async getJson(path, signal = this.closed.signal) {
    const res = await this.fetch(this.url(path), { headers: this.o.headers, cache: 'no-store', signal });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return res.json();
  }

  /**
   * Reads the config and the snapshot, then streams until `close()`. Resolves once the first snapshot is
   * merged (the stream runs on in the background).
   */
  async start() {
    for (let attempt = 0; !this.config; attempt++) {
      try {
        this.config = /** @type {FeedConfig} */ (await this.getJson('config.json'));
      } catch (err) {
        if (this.closed.signal.aborted) return;
        this.setState('connecting', { error: String(err) });
        await sleep(this.backoff(attempt), this.closed.signal);
      }
    }
    this.store = this.o.store ? this.o.store(this.config) : new FeedStore(this.config);
    await this.loadSnapshot();
    this.running = this.streamLoop();
  }

  /** Stops streaming and any retry; the store keeps what it holds. */
  close() {
    this.closed.abort();
    this.setState('closed', {});
  }

  /** @param {number} attempt */
  backoff(attempt) {
    const max = this.o.maxRetryMs ?? DEFAULT_MAX_RETRY_MS;
    return Math.min(max, this.retryMs * 2 ** attempt) * (0.5 + Math.random() / 2);
  }

  /** @param {FeedState} state @param {{ error?: string }} detail */
  setState(state, detail) {
    if (this.state === 'closed') return;
    this.state = state;
    this.o.onState?.(state, detail);
  }

  /** Loads /snapshot and merges it, retrying until it arrives or the feed is closed. */
  async loadSnapshot() {
    for (let attempt = 0; !this.closed.signal.aborted; attempt++) {
      try {
        const snap = /** @type {SnapshotResponse} */ (await this.getJson('snapshot'));
        /** @type {FeedStore} */ (this.store).loadSnapshot(snap);
        // Only forward: during a resync the stream runs on and may already be past the snapshot.
        if (snap.lastEventId && (!this.lastEventId || snap.lastEventId > this.lastEventId)) this.lastEventId = snap.lastEventId;
        this.o.onSnapshot?.(snap);
        return;
      } catch {
        await sleep(this.backoff(attempt), this.closed.signal);
      }
    }
  }

  eventsUrl() {
    const u = this.url('events');
    if (this.o.types?.length) u.searchParams.set('types', this.o.types.join(','));
    if (this.o.productIds?.length) u.searchParams.set('productId', this.o.productIds.join(','));
    if (this.o.eventIds?.length) u.searchParams.set('eventId', this.o.eventIds.join(','));
    // A query parameter rather than the Last-Event-ID header: no CORS preflight for cross-origin pages.
    if (this.lastEventId) u.searchParams.set('lastEventId', this.lastEventId);
    return u;
  }

  async streamLoop() {
    for (let failures = 0; !this.closed.signal.aborted;) {
      this.setState(this.connects === 0 ? 'connecting' : 'reconnecting', {});
      try {
        const opened = await this.streamOnce();
        if (opened) failures = 0;
      } catch (err) {
        if (err instanceof FeedRequestError) {
          this.setState('closed', { error: err.message });
          return;
        }
        if (this.closed.signal.aborted) return;
        this.setState('reconnecting', { error: String(err) });
        failures++;
      }
      if (this.closed.signal.aborted) return;
      this.setState('reconnecting', {});
      await sleep(failures === 0 ? this.retryMs * (0.5 + Math.random() / 2) : this.backoff(failures), this.closed.signal);
    }
  }

  /** One stream, to its end. @returns {Promise<boolean>} whether it opened */
  async streamOnce() {
    const ctl = new AbortController();
    const onClose = () => ctl.abort();
    this.closed.signal.addEventListener('abort', onClose, { once: true });
    const heartbeatMs = this.config?.heartbeatMs ?? 15_000;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let silence;
    const alive = () => {
      clearTimeout(silence);
      silence = setTimeout(() => ctl.abort(), heartbeatMs * SILENT_HEARTBEATS);
    };
    try {
      alive();
      const res = await this.fetch(this.eventsUrl(), {
        headers: { ...this.o.headers, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal: ctl.signal,
      });
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        throw new FeedRequestError(`events: HTTP ${res.status} ${await res.text().catch(() => '')}`.trim(), res.status);
      }
      if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
      this.connects++;
      this.setState('open', {});
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser((ev) => this.onEvent(ev));
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        alive();
        parser.push(decoder.decode(value, { stream: true }));
      }
      return true;
    } catch (err) {
      if (ctl.signal.aborted && !this.closed.signal.aborted) return this.connects > 0; // silent: replace it
      throw err;
    } finally {
      clearTimeout(silence);
      this.closed.signal.removeEventListener('abort', onClose);
      ctl.abort();
    }
  }

  /** @param {{ event: string, data: string, id: string | undefined, retry: number | undefined }} ev */
  onEvent(ev) {
    if (ev.retry !== undefined) this.retryMs = ev.retry;
    // An empty id clears the position (the server holds nothing yet): the snapshot covers the rest.
    if (ev.id !== undefined) this.lastEventId = ev.id || null;
    if (ev.event === 'resync') {
      // Our position is older than what this server can resume from: merge its current state (the
      // stream keeps running, and the merge keeps what arrives meanwhile). The frame's id moved us on.
      this.resyncs++;
      void this.loadSnapshot();
      return;
    }
    if (ev.event === 'names') {
      try {
        this.o.onNames?.(/** @type {{ version: number }} */ (JSON.parse(ev.data)).version);
      } catch {
        /* a malformed control event changes nothing */
      }
      return;
    }
    if (ev.data === '' || !this.config?.messageTypes.includes(ev.event)) return;
    /** @type {StreamEnvelope} */
    let env;
    try {
      env = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (/** @type {FeedStore} */ (this.store).apply(env)) this.o.onMessage?.(env);
  }
}

/**
 * text/event-stream parsing as the WHATWG HTML standard defines it (fields `event`, `data`, `id`,
 * `retry`; comments; CR, LF or CRLF line ends), fed with decoded text in chunks of any size.
 */
export class SseParser {
  /** @param {(ev: { event: string, data: string, id: string | undefined, retry: number | undefined }) => void} emit */
  constructor(emit) {
    this.emit = emit;
    this.buffer = '';
    /** @type {string[]} */
    this.data = [];
    this.event = '';
    /** @type {string | undefined} */
    this.id = undefined;
    /** @type {number | undefined} */
    this.retry = undefined;
  }

  /** @param {string} text */
  push(text) {
    this.buffer += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // A lone CR at the end may be the first half of CRLF: wait for the next chunk.
      if (!m || (m[0] === '\r' && m.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  /** @param {string} line */
  line(line) {
    if (line === '') {
      if (this.data.length || this.retry !== undefined || this.id !== undefined) {
        this.emit({ event: this.event || 'message', data: this.data.join('\n'), id: this.id, retry: this.retry });
      }
      this.data = [];
      this.event = '';
      this.id = undefined;
      this.retry = undefined;
      return;
    }
    if (line.startsWith(':')) return;
    const i = line.indexOf(':');
    const field = i === -1 ? line : line.slice(0, i);
    let value = i === -1 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

export { FeedStore };
