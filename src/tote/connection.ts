import type { IncomingMessage } from 'node:http';
import WebSocket, { type RawData } from 'ws';
import type { DeadLetterReason, WireProtocol } from '../envelope/envelope.js';
import { redact } from '../log/logger.js';
import { describeClose, retryClass, type CloseClass } from './close-reasons.js';
import { ProtocolError, dialectFor, parseJsonObject, summariseErrors, type Dialect, type Inbound } from './protocol.js';

/** The frames that belong to an operation; the connection answers everything else itself. */
export type OperationFrame = Extract<Inbound, { kind: 'data' | 'error' | 'complete' }>;

/** How a socket ended, once, with the first cause seen. */
export interface ConnectionEnd {
  readonly cls: CloseClass;
  /** For /status; null for a clean close by the server after a working session. */
  readonly error: string | null;
  /** Short reason for the log line. */
  readonly why: string;
}

export interface ConnectionEvents {
  /** connection_ack: the operations may start. */
  onAck(conn: ToteConnection): void;
  onOperationFrame(conn: ToteConnection, msg: OperationFrame, raw: string): void;
  onBadFrame(conn: ToteConnection, reason: DeadLetterReason, detail: string, raw: string): void;
  /** The first data since this socket opened: the path to Tote works again. */
  onProven(conn: ToteConnection): void;
  /** Called once per socket unless the socket was closed by close(). */
  onEnd(conn: ToteConnection, end: ConnectionEnd): void;
}

export interface ConnectionOptions {
  readonly id: string;
  readonly url: string;
  readonly protocols: readonly string[];
  readonly apiKey: string;
  readonly userAgent: string;
  readonly connectTimeoutMs: number;
  readonly livenessTimeoutMs: number;
  readonly maxFrameBytes: number;
  /** Start with reading paused (downstream was still saturated when this socket was made). */
  readonly paused: boolean;
  /** Shared across the client's sockets, so totals survive a reconnect. */
  readonly counters: FrameCounters;
}

export interface FrameCounters {
  framesReceived: number;
  keepAlives: number;
}

/** ws would otherwise reject invalid UTF-8 by closing the socket; we decode strictly ourselves. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type Phase = 'opening' | 'acked' | 'draining' | 'ended';

/** A closing peer silent this long is not going to answer. */
const CLOSE_IDLE_MS = 2_000;
/** Whatever the peer does, a close ends within this, leaving the rest of the 8 s shutdown grace to drain and flush. */
const CLOSE_MAX_MS = 5_000;

/**
 * One socket to Tote and everything that lives exactly as long as it: the
 * wait for connection_ack, the client pings, the liveness check and the
 * stable timer. Every path out goes through dispose(), so no timer outlives
 * its socket. What the frames mean for the operations is not decided here.
 */
export class ToteConnection {
  readonly id: string;
  private readonly ws: WebSocket;
  private phase: Phase = 'opening';
  private dialectInUse: Dialect | null = null;
  private httpStatus: number | undefined;
  /** ws refused a frame over maxFrameBytes (it then drops the socket). */
  private oversized = false;
  /** The cause an 'error' event gave: the 'close' that follows must not replace it. */
  private errorCause: string | null = null;
  private proven = false;
  private paused: boolean;
  private lastFrameAt = 0;
  private ackTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private livenessTimer: NodeJS.Timeout | null = null;
  private stableTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly o: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.id = o.id;
    this.paused = o.paused;
    this.ws = new WebSocket(o.url, [...o.protocols], {
      headers: { Authorization: `Api-Key ${o.apiKey}` },
      handshakeTimeout: o.connectTimeoutMs,
      maxPayload: o.maxFrameBytes,
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    this.ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      this.httpStatus = res.statusCode;
      res.resume();
      this.ws.terminate();
    });
    this.ws.on('open', () => this.onOpen());
    this.ws.on('message', (data: RawData) => this.onMessage(data));
    this.ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.oversized = true;
      // 'close' follows every 'error'; keep the cause here, act there.
      this.errorCause ??= `socket error: ${err.message}`;
    });
    this.ws.on('close', (code: number, reason: Buffer) => this.onClose(code, reason.toString()));
  }

  get dialect(): Dialect | null {
    return this.dialectInUse;
  }

  get protocol(): WireProtocol | null {
    return this.dialectInUse?.protocol ?? null;
  }

  get acked(): boolean {
    return this.phase === 'acked';
  }

  /** Data frames of a socket being closed by close() are still delivered. */
  get live(): boolean {
    return this.phase === 'opening' || this.phase === 'acked';
  }

  send(text: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  /** Stop reading (TCP backpressure to Tote). Silence while we do not read is ours, so liveness stops too. */
  pause(): void {
    this.paused = true;
    this.ws.pause();
    this.clearLiveness();
  }

  resume(): void {
    this.paused = false;
    this.ws.resume();
    if (this.phase === 'acked') this.armLiveness();
  }

  /** Ends the socket for a reason found on our side (or in a frame): onEnd follows at once. */
  replace(cls: CloseClass, error: string, why: string): void {
    this.end({ cls, error: redact(error), why });
  }

  /**
   * Closes cleanly: sends `farewell` (stop every operation, terminate), then a
   * close frame, and takes in the data frames Tote had already sent until the
   * close completes. A peer that stops answering (no frame for
   * CLOSE_IDLE_MS) is cut off, and any peer after CLOSE_MAX_MS, so a shutdown
   * is never held up; a peer still delivering what it sent before our close
   * is read to the end, however slowly a loaded machine reads it. onEnd is
   * not called.
   */
  close(farewell: readonly string[], code: number, reason: string): Promise<void> {
    if (this.closing) return this.closing;
    if (this.phase === 'ended') return Promise.resolve();
    this.dispose('draining');
    if (this.ws.isPaused) this.ws.resume();
    const ws = this.ws;
    this.closing = new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      const startedAt = Date.now();
      this.lastFrameAt = startedAt;
      const timer = setInterval(() => {
        const now = Date.now();
        if (now - this.lastFrameAt < CLOSE_IDLE_MS && now - startedAt < CLOSE_MAX_MS) return;
        clearInterval(timer);
        ws.terminate();
        resolve();
      }, CLOSE_IDLE_MS / 4);
      ws.once('close', () => {
        clearInterval(timer);
        resolve();
      });
      if (ws.readyState === WebSocket.OPEN && this.dialectInUse) {
        for (const text of farewell) ws.send(text);
        ws.close(code, reason);
      } else {
        ws.terminate();
      }
    }).then(() => {
      this.phase = 'ended';
    });
    return this.closing;
  }

  // --- socket events -----------------------------------------------------

  private onOpen(): void {
    if (!this.live) return;
    const dialect = dialectFor(this.ws.protocol);
    if (!dialect) {
      this.replace('retry', `server chose no supported subprotocol ("${this.ws.protocol.slice(0, 64)}")`, 'no supported subprotocol');
      return;
    }
    this.dialectInUse = dialect;
    this.send(dialect.init({ authorization: `Api-Key ${this.o.apiKey}`, useragent: this.o.userAgent }));
    this.ackTimer = setTimeout(() => {
      if (this.phase === 'opening') this.replace('retry', `no connection_ack within ${this.o.connectTimeoutMs} ms`, 'no connection_ack');
    }, this.o.connectTimeoutMs);
  }

  /** Whatever a frame holds, it ends in a handler or a dead letter: nothing thrown here may reach ws. */
  private onMessage(data: RawData): void {
    if (this.phase === 'ended' || !this.dialectInUse) return;
    this.o.counters.framesReceived++;
    // A timestamp per frame, not a timer per frame: this is the hot path.
    this.lastFrameAt = Date.now();
    let text = '';
    try {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      try {
        text = utf8.decode(bytes);
      } catch {
        // The bytes are kept whole (base64) so nothing Tote sent is lost to a lossy decode.
        const detail = `frame of ${bytes.length} bytes is not valid UTF-8; raw holds it base64-encoded`;
        this.events.onBadFrame(this, 'invalid-frame', detail, bytes.toString('base64'));
        return;
      }
      this.dispatch(text);
    } catch (err) {
      const detail = `frame could not be handled: ${err instanceof Error ? err.message : 'unknown error'}`.slice(0, 500);
      try {
        this.events.onBadFrame(this, 'invalid-frame', detail, text);
      } catch {
        // The dead-letter path failed too: the frame is lost to a fault downstream, but the socket lives.
      }
    }
  }

  private dispatch(text: string): void {
    let msg: Inbound;
    try {
      msg = this.dialectInUse!.read(parseJsonObject(text));
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.reason : 'invalid-frame';
      this.events.onBadFrame(this, reason, err instanceof Error ? err.message : 'unreadable frame', text);
      return;
    }
    if (this.phase === 'draining') {
      // Only what Tote already sent matters now; protocol chatter of a closing socket does not.
      if (msg.kind === 'data') this.events.onOperationFrame(this, msg, text);
      return;
    }
    switch (msg.kind) {
      case 'ack':
        this.onAck();
        break;
      case 'keepalive':
        this.o.counters.keepAlives++;
        break;
      case 'ping':
        this.o.counters.keepAlives++;
        this.send(this.dialectInUse!.pong());
        break;
      case 'connection-error': {
        const end = { kind: 'connection-error', payload: msg.payload } as const;
        const cls = retryClass(end);
        const what = cls === 'auth' ? 'Tote rejected the API key' : 'Tote refused the connection';
        this.replace(cls, `${what} (connection_error): ${summariseErrors(msg.payload)}`, 'connection_error');
        break;
      }
      case 'data':
        if (!this.proven && msg.payload.data) {
          this.proven = true;
          this.events.onProven(this);
        }
        this.events.onOperationFrame(this, msg, text);
        break;
      case 'error':
      case 'complete':
        this.events.onOperationFrame(this, msg, text);
        break;
    }
  }

  private onAck(): void {
    if (this.phase !== 'opening') return;
    this.phase = 'acked';
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    // A connection that stays up a while proves the path healthy even on a quiet feed.
    this.stableTimer = setTimeout(
      () => {
        if (this.phase !== 'acked' || this.proven) return;
        this.proven = true;
        this.events.onProven(this);
      },
      Math.min(30_000, this.o.livenessTimeoutMs),
    );
    if (!this.paused) this.armLiveness();
    const ping = this.dialectInUse!.ping();
    if (ping) {
      // Servers of the modern protocol need not ping us: ask, so silence is detectable.
      this.pingTimer = setInterval(() => this.send(ping), Math.max(250, Math.floor(this.o.livenessTimeoutMs / 3)));
    }
    this.events.onAck(this);
    // The operations are started; while downstream is saturated their data waits in TCP.
    if (this.paused) this.ws.pause();
  }

  private onClose(code: number, reason: string): void {
    if (!this.live) return;
    if ((this.oversized || code === 1009) && this.dialectInUse) {
      // ws refused a frame over maxFrameBytes: its text is gone, but it is still accounted for.
      this.events.onBadFrame(this, 'frame-too-large', `a frame over ${this.o.maxFrameBytes} bytes closed the socket`, '');
    }
    const cls = retryClass({ kind: 'closed', code, ...(this.httpStatus === undefined ? {} : { httpStatus: this.httpStatus }) });
    const text = this.httpStatus ? `upgrade refused with HTTP ${this.httpStatus}` : describeClose(code, reason);
    let error: string | null;
    if (cls === 'auth') error = `Tote rejected the API key (${text})`;
    else if (this.errorCause) error = this.errorCause;
    else error = this.phase === 'opening' || code !== 1000 ? `socket closed: ${text}` : null;
    this.end({ cls, error: error === null ? null : redact(error), why: text });
  }

  // --- timers ------------------------------------------------------------

  /**
   * Checks a few times per interval whether any frame arrived, so a silent
   * socket is replaced within livenessTimeoutMs (+ a fifth of it).
   */
  private armLiveness(): void {
    this.clearLiveness();
    this.lastFrameAt = Date.now();
    const timeout = this.o.livenessTimeoutMs;
    const silent = () => Date.now() - this.lastFrameAt >= timeout;
    this.livenessTimer = setInterval(
      () => {
        if (!silent()) return;
        // Timers run before pending socket reads: after the event loop was held up (a GC pause, a
        // starved CPU) frames may be waiting unread. Judge again once they have been read.
        setImmediate(() => {
          if (this.livenessTimer && silent())
            this.replace('retry', `no frame from Tote for ${timeout} ms; replacing the socket`, 'liveness timeout');
        });
      },
      Math.max(50, Math.floor(timeout / 5)),
    );
  }

  private clearLiveness(): void {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
  }

  private end(end: ConnectionEnd): void {
    if (!this.live) return;
    this.dispose('ended');
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    this.events.onEnd(this, end);
  }

  /** The one place every timer of this socket is cleared. */
  private dispose(next: 'draining' | 'ended'): void {
    this.phase = next;
    for (const t of [this.ackTimer, this.stableTimer]) if (t) clearTimeout(t);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.ackTimer = this.stableTimer = this.pingTimer = null;
    this.clearLiveness();
  }
}
