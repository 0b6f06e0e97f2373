import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import WebSocket, { type RawData } from 'ws';
import { CATALOG, bundledDocument, type CatalogEntry } from '../catalog/catalog.js';
import type { ToteConfig } from '../config/tote.js';
import type { DeadLetterReason, WireProtocol } from '../envelope/envelope.js';
import { redact, type Logger } from '../log/logger.js';
import { backoffDelay } from './backoff.js';
import { classifyClose, describeClose } from './close-reasons.js';
import {
  LEGACY_PROTOCOL,
  ProtocolError,
  TRANSPORT_PROTOCOL,
  dialectFor,
  type Dialect,
  type Inbound,
} from './protocol.js';
import { resolveSecret, type SecretResolver } from './secrets.js';
import { documentFromSchema, fetchSchema, introspectionUrl, type OperationDocument, type SelectionSource } from './selection.js';

export type ClientState = 'stopped' | 'connecting' | 'running' | 'backoff';
export type OperationState = 'pending' | 'active' | 'failed' | 'completed';

export interface FrameMeta {
  readonly protocol: WireProtocol;
  readonly connectionId: string;
  readonly receivedAt: Date;
}

export interface ClientHandlers {
  /** One Tote message: `payload` is `data.<rootField>` exactly as sent. */
  onMessage(entry: CatalogEntry, payload: Record<string, unknown>, raw: string, meta: FrameMeta): void;
  /** A frame that cannot become an envelope; the caller dead-letters it. */
  onBadFrame(reason: DeadLetterReason, detail: string, raw: string, meta: FrameMeta, entry?: CatalogEntry): void;
  /**
   * Once per socket, after connection_ack, when every operation has been
   * started: what Tote sent while no socket was open is lost, so this is the
   * moment to reconcile. `reconnect` is false for the first socket since start().
   */
  onConnected?(info: { connectionId: string; protocol: WireProtocol; reconnect: boolean }): void;
}

export interface OperationStatus {
  state: OperationState;
  id: string | null;
  selection: SelectionSource;
  selectionNote: string | null;
  failures: number;
  lastError: string | null;
  lastErrorAt: string | null;
  nextRetryAt: string | null;
}

export interface ClientStatus {
  state: ClientState;
  protocol: WireProtocol | null;
  connectionId: string | null;
  connectedSince: string | null;
  /** Sockets replaced after the first one since start. */
  reconnects: number;
  attempt: number;
  nextRetryAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  paused: boolean;
  framesReceived: number;
  keepAlives: number;
  operations: Record<string, OperationStatus>;
}

interface Operation {
  readonly entry: CatalogEntry;
  doc: OperationDocument;
  state: OperationState;
  id: string | null;
  failures: number;
  /** Failures since the operation last delivered data: drives its backoff. */
  consecutiveFailures: number;
  lastError: string | null;
  lastErrorAt: Date | null;
  retryTimer: NodeJS.Timeout | null;
  nextRetryAt: Date | null;
}

export interface ToteClientOptions {
  config: ToteConfig;
  /** Resolved (or sm://) subscriptions URL; defaults to config.subscriptionsUrl. */
  url?: string;
  apiKey?: string;
  log: Logger;
  handlers: ClientHandlers;
  entries?: readonly CatalogEntry[];
  /** Reads sm:// references; defaults to Secret Manager with ambient credentials. */
  resolveSecret?: SecretResolver;
  /** Replace an entry's selection (used to try documents against a schema). */
  selectionOverride?: (entry: CatalogEntry) => string | undefined;
}

/** Client-side slice of a single socket's life: stale callbacks compare their generation. */
interface Connection {
  readonly gen: number;
  readonly ws: WebSocket;
  readonly id: string;
  /** Operation id -> operation, for this socket only (ids are never reused across sockets). */
  readonly routes: Map<string, Operation>;
  /** Stopping: data frames Tote already sent are still taken in until the close completes. */
  draining: boolean;
  dialect: Dialect | null;
  acked: boolean;
  openedAt: Date | null;
  httpStatus?: number;
  /** ws refused a frame over maxFrameBytes (it then drops the socket). */
  oversized?: boolean;
}

/**
 * Holds one GraphQL-over-WebSocket connection to Tote with one operation per
 * catalog entry, forever: reconnects with full-jitter backoff, replaces a
 * silent socket, retries a failing operation on its own while the others keep
 * streaming, and re-reads secrets at every connect so a rotated key is used.
 */
export class ToteClient {
  private readonly cfg: ToteConfig;
  private readonly log: Logger;
  private readonly handlers: ClientHandlers;
  private readonly ops = new Map<string, Operation>(); // by rootField
  private state: ClientState = 'stopped';
  private conn: Connection | null = null;
  private gen = 0;
  private nextOpId = 1;
  private attempt = 0;
  private reconnects = 0;
  private everConnected = false;
  private lastError: string | null = null;
  private lastErrorAt: Date | null = null;
  private connectedSince: Date | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private nextRetryAt: Date | null = null;
  private livenessTimer: NodeJS.Timeout | null = null;
  private lastFrameAt = 0;
  private pingTimer: NodeJS.Timeout | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  private stableTimer: NodeJS.Timeout | null = null;
  private paused = false;
  private framesReceived = 0;
  private keepAlives = 0;

  constructor(private readonly opts: ToteClientOptions) {
    this.cfg = opts.config;
    this.log = opts.log;
    this.handlers = opts.handlers;
    for (const entry of opts.entries ?? CATALOG) {
      this.ops.set(entry.rootField, {
        entry,
        doc: this.bundled(entry),
        state: 'pending',
        id: null,
        failures: 0,
        consecutiveFailures: 0,
        lastError: null,
        lastErrorAt: null,
        retryTimer: null,
        nextRetryAt: null,
      });
    }
  }

  /** Starting a started client is a no-op: there is only ever one socket. */
  start(): void {
    if (this.state !== 'stopped') return;
    this.attempt = 0;
    this.reconnects = 0;
    this.everConnected = false;
    void this.connect();
  }

  /** Closes the socket cleanly (stop every operation, terminate) and stays stopped. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    this.clearTimers();
    for (const op of this.ops.values()) this.clearOpRetry(op);
    const conn = this.conn;
    this.conn = null;
    this.gen++;
    const activeIds = conn ? [...conn.routes.keys()] : [];
    // Reset before waiting for the close, so a start() that comes in meanwhile begins clean.
    for (const op of this.ops.values()) {
      op.state = 'pending';
      op.id = null;
    }
    this.connectedSince = null;
    if (!conn) return;
    // Frames Tote sent before it saw our stop are still ours to account for.
    conn.draining = true;
    if (conn.ws.isPaused) conn.ws.resume();
    await this.closeSocket(conn, activeIds, 1000, 'subscriber stopping');
    conn.draining = false;
  }

  /** Stop reading from the socket (TCP backpressure to Tote) while downstream catches up. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.conn?.ws.pause();
    // Silence while we are not reading is our doing, not Tote's.
    this.clearLiveness();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.conn?.ws.resume();
    if (this.conn?.acked) this.armLiveness(this.conn);
  }

  status(): ClientStatus {
    const operations: Record<string, OperationStatus> = {};
    for (const [root, op] of this.ops) {
      operations[root] = {
        state: op.state,
        id: op.id,
        selection: op.doc.source,
        selectionNote: op.doc.note ?? null,
        failures: op.failures,
        lastError: op.lastError,
        lastErrorAt: op.lastErrorAt?.toISOString() ?? null,
        nextRetryAt: op.nextRetryAt?.toISOString() ?? null,
      };
    }
    return {
      state: this.state,
      protocol: this.conn?.dialect?.protocol ?? null,
      connectionId: this.conn?.id ?? null,
      connectedSince: this.connectedSince?.toISOString() ?? null,
      reconnects: this.reconnects,
      attempt: this.attempt,
      nextRetryAt: this.nextRetryAt?.toISOString() ?? null,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt?.toISOString() ?? null,
      paused: this.paused,
      framesReceived: this.framesReceived,
      keepAlives: this.keepAlives,
      operations,
    };
  }

  // --- connecting -----------------------------------------------------------

  private bundled(entry: CatalogEntry): OperationDocument {
    const override = this.opts.selectionOverride?.(entry);
    if (override) return { document: `subscription { ${entry.rootField} { ${override} } }`, source: 'bundled', note: 'override' };
    return { document: bundledDocument(entry), source: 'bundled' };
  }

  private protocols(): string[] {
    switch (this.cfg.protocol) {
      case 'graphql-ws':
        return [LEGACY_PROTOCOL];
      case 'graphql-transport-ws':
        return [TRANSPORT_PROTOCOL];
      default:
        // Tote documents the legacy protocol: offer it first.
        return [LEGACY_PROTOCOL, TRANSPORT_PROTOCOL];
    }
  }

  private async connect(): Promise<void> {
    const gen = ++this.gen;
    this.state = 'connecting';
    this.nextRetryAt = null;
    let url: string | undefined;
    let apiKey: string | undefined;
    try {
      const resolve = this.opts.resolveSecret ?? resolveSecret;
      url = await resolve(this.opts.url ?? this.cfg.subscriptionsUrl, { sensitive: false });
      apiKey = await resolve(this.opts.apiKey ?? this.cfg.apiKey);
    } catch (err) {
      if (gen !== this.gen) return;
      this.fail(`secret resolution failed: ${(err as Error).message}`);
      this.scheduleReconnect('retry');
      return;
    }
    if (gen !== this.gen) return;
    if (!url || !apiKey) {
      this.fail('no Tote subscriptions URL or API key configured');
      this.scheduleReconnect('auth');
      return;
    }
    await this.prepareDocuments(url, apiKey);
    if (gen !== this.gen || this.state !== 'connecting') return;

    const connectionId = randomBytes(6).toString('hex');
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, this.protocols(), {
        headers: { Authorization: `Api-Key ${apiKey}` },
        handshakeTimeout: this.cfg.connectTimeoutMs,
        maxPayload: this.cfg.maxFrameBytes,
        perMessageDeflate: false,
      });
    } catch (err) {
      this.fail(`cannot open socket: ${(err as Error).message}`);
      this.scheduleReconnect('retry');
      return;
    }
    const conn: Connection = { gen, ws, id: connectionId, routes: new Map(), draining: false, dialect: null, acked: false, openedAt: null };
    this.conn = conn;
    this.log.info('tote connecting', { connectionId, attempt: this.attempt, protocols: this.protocols() });

    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      conn.httpStatus = res.statusCode;
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      if (conn.gen !== this.gen) return;
      const dialect = dialectFor(ws.protocol);
      if (!dialect) {
        this.fail(`server chose no supported subprotocol ("${ws.protocol}")`);
        this.onSocketGone(conn, 'retry', 'no supported subprotocol');
        return;
      }
      conn.dialect = dialect;
      conn.openedAt = new Date();
      this.send(conn, dialect.init({ authorization: `Api-Key ${apiKey}`, useragent: this.cfg.userAgent }));
      this.ackTimer = setTimeout(() => {
        if (conn.gen !== this.gen || conn.acked) return;
        this.fail(`no connection_ack within ${this.cfg.connectTimeoutMs} ms`);
        this.onSocketGone(conn, 'retry', 'no connection_ack');
      }, this.cfg.connectTimeoutMs);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (conn.gen !== this.gen && !conn.draining) return;
      this.onFrame(conn, isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString());
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (conn.gen !== this.gen) return;
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') conn.oversized = true;
      // 'close' follows every 'error'; record the cause here, act there.
      this.fail(`socket error: ${err.message}`);
    });
    ws.on('close', (code: number, reasonBuf: Buffer) => {
      if (conn.gen !== this.gen) return;
      const reason = reasonBuf.toString();
      if ((conn.oversized || code === 1009) && conn.dialect) {
        // ws refused a frame over maxFrameBytes: its text is gone, but it is still accounted for.
        this.handlers.onBadFrame('frame-too-large', `a frame over ${this.cfg.maxFrameBytes} bytes closed the socket`, '', this.meta(conn));
      }
      const cls = classifyClose(code, conn.httpStatus);
      const text = conn.httpStatus
        ? `upgrade refused with HTTP ${conn.httpStatus}`
        : describeClose(code, reason);
      if (cls === 'auth') this.fail(`Tote rejected the API key (${text})`);
      else if (!conn.acked || code !== 1000) this.fail(`socket closed: ${text}`);
      this.onSocketGone(conn, cls, text);
    });
  }

  private async prepareDocuments(url: string, apiKey: string): Promise<void> {
    const bundledAll = (note?: string) => {
      for (const op of this.ops.values()) op.doc = { ...this.bundled(op.entry), ...(note ? { note } : {}) };
    };
    if (!this.cfg.introspect || this.opts.selectionOverride) {
      bundledAll();
      return;
    }
    try {
      const schema = await fetchSchema(introspectionUrl(url), apiKey, this.cfg.connectTimeoutMs);
      for (const op of this.ops.values()) op.doc = documentFromSchema(schema, op.entry, this.cfg.selectionDepth);
    } catch (err) {
      const note = redact((err as Error).message);
      this.log.warn('tote schema introspection failed; using bundled documents', { error: note });
      bundledAll(note);
    }
  }

  // --- frames ---------------------------------------------------------------

  private meta(conn: Connection): FrameMeta {
    return { protocol: conn.dialect!.protocol, connectionId: conn.id, receivedAt: new Date() };
  }

  private onFrame(conn: Connection, text: string): void {
    this.framesReceived++;
    // A timestamp per frame, not a timer per frame: this is the hot path.
    this.lastFrameAt = Date.now();
    const dialect = conn.dialect;
    if (!dialect) return;
    let msg: Inbound;
    try {
      msg = dialect.parse(text);
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.reason : 'invalid-frame';
      this.handlers.onBadFrame(reason, (err as Error).message, text, this.meta(conn));
      return;
    }
    if (conn.draining) {
      // Only what Tote already sent matters now; protocol chatter of a closing socket does not.
      if (msg.kind === 'data') this.onData(conn, msg.id, msg.payload, text);
      return;
    }
    switch (msg.kind) {
      case 'ack':
        this.onAck(conn);
        return;
      case 'keepalive':
        this.keepAlives++;
        return;
      case 'ping':
        this.keepAlives++;
        this.send(conn, dialect.pong());
        return;
      case 'connection-error':
        this.fail(`Tote rejected the connection (check the API key): ${summarise(msg.payload)}`);
        this.onSocketGone(conn, 'auth', 'connection_error');
        return;
      case 'data':
        this.onData(conn, msg.id, msg.payload, text);
        return;
      case 'error':
        this.onOperationError(conn, msg.id, msg.errors);
        return;
      case 'complete':
        this.onOperationComplete(conn, msg.id);
        return;
    }
  }

  private onAck(conn: Connection): void {
    if (conn.acked) return;
    conn.acked = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    const reconnect = this.everConnected;
    if (this.everConnected) this.reconnects++;
    this.everConnected = true;
    this.state = 'running';
    this.connectedSince = new Date();
    this.log.info('tote connected', {
      connectionId: conn.id,
      protocol: conn.dialect!.protocol,
      reconnects: this.reconnects,
    });
    // A connection that stays up for a while proves the path is healthy again.
    this.stableTimer = setTimeout(() => {
      if (conn.gen === this.gen) this.attempt = 0;
    }, Math.min(30_000, this.cfg.livenessTimeoutMs));
    if (!this.paused) this.armLiveness(conn);
    const ping = conn.dialect!.ping();
    if (ping) {
      // Servers of the modern protocol need not ping us: ask, so silence is detectable.
      this.pingTimer = setInterval(() => this.send(conn, ping), Math.max(250, Math.floor(this.cfg.livenessTimeoutMs / 3)));
    }
    for (const op of this.ops.values()) {
      this.clearOpRetry(op);
      this.subscribe(conn, op);
    }
    // Downstream was still saturated when this socket was made (a reconnect
    // while paused): the operations are started, but their data waits in TCP.
    if (this.paused) conn.ws.pause();
    this.handlers.onConnected?.({ connectionId: conn.id, protocol: conn.dialect!.protocol, reconnect });
  }

  private subscribe(conn: Connection, op: Operation): void {
    if (op.id) conn.routes.delete(op.id);
    op.id = String(this.nextOpId++);
    conn.routes.set(op.id, op);
    op.state = 'active';
    op.nextRetryAt = null;
    this.send(conn, conn.dialect!.subscribe(op.id, op.doc.document));
  }

  private onData(conn: Connection, id: string, payload: { data?: Record<string, unknown> | null; errors?: readonly unknown[] }, raw: string): void {
    const op = conn.routes.get(id);
    if (!op) {
      this.handlers.onBadFrame('unknown-operation', `data for unknown operation id "${id.slice(0, 64)}"`, raw, this.meta(conn));
      return;
    }
    const value = payload.data?.[op.entry.rootField];
    if (payload.errors?.length) {
      // Partial errors are Tote's resolver problems: record them on the operation.
      this.recordOpError(op, summarise(payload.errors));
    }
    if (value === undefined || value === null) {
      if (payload.errors?.length) {
        op.failures++;
        op.consecutiveFailures++;
      }
      const reason: DeadLetterReason = payload.errors?.length ? 'graphql-error' : 'payload-not-object';
      this.handlers.onBadFrame(reason, `no data.${op.entry.rootField} in frame`, raw, this.meta(conn), op.entry);
      return;
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.handlers.onBadFrame('payload-not-object', `data.${op.entry.rootField} is not an object`, raw, this.meta(conn), op.entry);
      return;
    }
    op.consecutiveFailures = 0;
    this.handlers.onMessage(op.entry, value as Record<string, unknown>, raw, this.meta(conn));
  }

  private recordOpError(op: Operation, message: string): void {
    op.lastError = redact(message);
    op.lastErrorAt = new Date();
  }

  private onOperationError(conn: Connection, id: string, errors: readonly unknown[]): void {
    const op = conn.routes.get(id);
    if (!op) return;
    conn.routes.delete(id);
    op.id = null;
    op.state = 'failed';
    op.failures++;
    op.consecutiveFailures++;
    this.recordOpError(op, summarise(errors));
    const delay = this.opBackoff(op);
    this.log.error('tote operation failed', {
      rootField: op.entry.rootField,
      error: op.lastError,
      failures: op.failures,
      retryInMs: delay,
    });
    this.retryOperation(conn, op, delay);
  }

  private onOperationComplete(conn: Connection, id: string): void {
    const op = conn.routes.get(id);
    if (!op) return;
    conn.routes.delete(id);
    op.id = null;
    op.state = 'completed';
    // Tote ended a subscription we still want (e.g. a server redeploy): ask
    // again, backing off if it has been failing (errors, then complete).
    const delay = op.consecutiveFailures > 0 ? this.opBackoff(op) : this.cfg.operationRetryMinMs;
    this.log.warn('tote completed an operation; resubscribing', { rootField: op.entry.rootField, retryInMs: delay });
    this.retryOperation(conn, op, delay);
  }

  private opBackoff(op: Operation): number {
    return backoffDelay(op.consecutiveFailures - 1, this.cfg.operationRetryMinMs, this.cfg.operationRetryMaxMs);
  }

  private retryOperation(conn: Connection, op: Operation, delayMs: number): void {
    this.clearOpRetry(op);
    op.nextRetryAt = new Date(Date.now() + delayMs);
    op.retryTimer = setTimeout(() => {
      op.retryTimer = null;
      if (conn.gen !== this.gen || this.state !== 'running') return;
      this.subscribe(conn, op);
    }, delayMs);
  }

  private clearOpRetry(op: Operation): void {
    if (op.retryTimer) clearTimeout(op.retryTimer);
    op.retryTimer = null;
    op.nextRetryAt = null;
  }

  // --- liveness and reconnects ----------------------------------------------

  /**
   * Checks a few times per interval whether any frame arrived, so a silent
   * socket is replaced within livenessTimeoutMs (+ a fifth of it).
   */
  private armLiveness(conn: Connection): void {
    this.clearLiveness();
    this.lastFrameAt = Date.now();
    const timeout = this.cfg.livenessTimeoutMs;
    this.livenessTimer = setInterval(() => {
      if (conn.gen !== this.gen || Date.now() - this.lastFrameAt < timeout) return;
      this.fail(`no frame from Tote for ${timeout} ms; replacing the socket`);
      this.onSocketGone(conn, 'retry', 'liveness timeout');
    }, Math.max(50, Math.floor(timeout / 5)));
  }

  private clearLiveness(): void {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
  }

  private onSocketGone(conn: Connection, cls: 'auth' | 'retry', why: string): void {
    if (conn.gen !== this.gen) return;
    this.gen++; // ignore anything the dying socket still emits
    this.conn = null;
    this.clearTimers();
    if (conn.ws.readyState !== WebSocket.CLOSED) conn.ws.terminate();
    for (const op of this.ops.values()) {
      this.clearOpRetry(op);
      op.id = null;
      op.state = 'pending';
    }
    this.connectedSince = null;
    if (this.state === 'stopped') return;
    this.log.warn('tote reconnecting', { attempt: this.attempt + 1, reason: why, class: cls, connectionId: conn.id });
    this.scheduleReconnect(cls);
  }

  private scheduleReconnect(cls: 'auth' | 'retry'): void {
    if (this.state === 'stopped') return;
    this.state = 'backoff';
    const delay =
      cls === 'auth'
        ? Math.floor(this.cfg.authRetryMs * (0.75 + Math.random() * 0.5))
        : backoffDelay(this.attempt, this.cfg.reconnectMinMs, this.cfg.reconnectMaxMs);
    this.attempt++;
    this.nextRetryAt = new Date(Date.now() + delay);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === 'backoff') void this.connect();
    }, delay);
  }

  private fail(message: string): void {
    this.lastError = redact(message);
    this.lastErrorAt = new Date();
  }

  private send(conn: Connection, text: string): void {
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(text);
  }

  private clearTimers(): void {
    for (const t of [this.reconnectTimer, this.ackTimer, this.stableTimer]) if (t) clearTimeout(t);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.reconnectTimer = this.ackTimer = this.stableTimer = this.pingTimer = null;
    this.nextRetryAt = null;
    this.clearLiveness();
  }

  private closeSocket(conn: Connection, operationIds: readonly string[], code: number, reason: string): Promise<void> {
    const ws = conn.ws;
    if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      // A peer that never answers our close must not hold up a shutdown.
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2_000);
      ws.once('close', done);
      if (ws.readyState === WebSocket.OPEN && conn.dialect) {
        for (const id of operationIds) ws.send(conn.dialect.unsubscribe(id));
        const bye = conn.dialect.terminate();
        if (bye) ws.send(bye);
        ws.close(code, reason);
      } else {
        ws.terminate();
      }
    });
  }
}

/** Short, key-free text for an error payload from Tote. */
function summarise(v: unknown): string {
  const first = Array.isArray(v) ? v[0] : v;
  if (first && typeof first === 'object' && 'message' in first) return redact(String((first as { message: unknown }).message)).slice(0, 500);
  try {
    return redact(JSON.stringify(v)).slice(0, 500);
  } catch {
    return 'unreadable error payload';
  }
}
