import { randomBytes } from 'node:crypto';
import { CATALOG, type CatalogEntry } from '../catalog/catalog.js';
import type { ToteConfig } from '../config/tote.js';
import type { DeadLetterReason, WireProtocol } from '../envelope/envelope.js';
import { redact, type Logger } from '../log/logger.js';
import { backoffDelay } from '../retry/backoff.js';
import { retryClass, type CloseClass } from './close-reasons.js';
import { ToteConnection, type ConnectionEnd, type ConnectionEvents, type FrameCounters, type OperationFrame } from './connection.js';
import type { ClientHandlers } from './handlers.js';
import { Operations, type OperationStatus } from './operations.js';
import { LEGACY_PROTOCOL, TRANSPORT_PROTOCOL } from './protocol.js';
import { resolveSecret, type SecretResolver } from './secrets.js';

export type { ClientHandlers, FrameMeta } from './handlers.js';
export type { OperationState, OperationStatus } from './operations.js';

export type ClientState = 'stopped' | 'connecting' | 'running' | 'backoff';

export interface ClientStatus {
  state: ClientState;
  protocol: WireProtocol | null;
  connectionId: string | null;
  connectedSince: string | null;
  /** Sockets replaced after the first one since start. */
  reconnects: number;
  /** Failed attempts since the last connection that delivered data (or stayed up a while). */
  attempt: number;
  nextRetryAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  paused: boolean;
  framesReceived: number;
  keepAlives: number;
  operations: Record<string, OperationStatus>;
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

/**
 * Holds one GraphQL-over-WebSocket connection to Tote with one operation per
 * catalog entry, forever: reconnects with full-jitter backoff, replaces a
 * silent socket, retries a failing operation on its own while the others keep
 * streaming, and re-reads secrets at every connect so a rotated key is used.
 *
 * This is the supervisor: the socket and its timers are a ToteConnection, the
 * subscriptions and their documents are Operations.
 */
export class ToteClient {
  private readonly cfg: ToteConfig;
  private readonly log: Logger;
  private readonly ops: Operations;
  private readonly connectionEvents: ConnectionEvents;
  private state: ClientState = 'stopped';
  private conn: ToteConnection | null = null;
  /** Bumped by every start(), stop() and connect(): an await that returns to an older one gives up. */
  private epoch = 0;
  private attempt = 0;
  private reconnects = 0;
  private everConnected = false;
  private lastError: string | null = null;
  private lastErrorAt: Date | null = null;
  private connectedSince: Date | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private nextRetryAt: Date | null = null;
  private paused = false;
  private readonly counters: FrameCounters = { framesReceived: 0, keepAlives: 0 };

  constructor(private readonly opts: ToteClientOptions) {
    this.cfg = opts.config;
    this.log = opts.log;
    this.ops = new Operations({
      config: opts.config,
      log: opts.log,
      handlers: opts.handlers,
      entries: opts.entries ?? CATALOG,
      selectionOverride: opts.selectionOverride,
    });
    this.connectionEvents = {
      onAck: (conn) => this.onAck(conn),
      onOperationFrame: (conn: ToteConnection, msg: OperationFrame, raw: string) => this.ops.onFrame(conn, msg, raw),
      onBadFrame: (conn: ToteConnection, reason: DeadLetterReason, detail: string, raw: string) =>
        opts.handlers.onBadFrame(reason, detail, raw, { protocol: conn.protocol!, connectionId: conn.id, receivedAt: new Date() }),
      onProven: (conn) => {
        // A connection that delivered data ends any storm of failures: the next attempt starts from the minimum.
        if (conn === this.conn) this.attempt = 0;
      },
      onEnd: (conn, end) => this.onSocketGone(conn, end),
    };
  }

  /** Starting a started client is a no-op: there is only ever one socket. */
  start(): void {
    if (this.state !== 'stopped') return;
    this.attempt = 0;
    this.reconnects = 0;
    this.everConnected = false;
    this.ops.reset();
    void this.connect();
  }

  /** Closes the socket cleanly (stop every operation, terminate) and stays stopped. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    this.epoch++;
    this.clearReconnect();
    const conn = this.conn;
    this.conn = null;
    // Reset before waiting for the close, so a start() that comes in meanwhile begins clean.
    const ids = conn ? this.ops.idsOn(conn) : [];
    this.ops.detach();
    this.connectedSince = null;
    if (!conn) return;
    const dialect = conn.dialect;
    const farewell = dialect
      ? [...ids.map((id) => dialect.unsubscribe(id)), ...[dialect.terminate()].filter((t): t is string => t !== null)]
      : [];
    // Frames Tote sent before it saw our stop are still ours to account for.
    await conn.close(farewell, 1000, 'subscriber stopping');
    this.ops.forget(conn);
  }

  /** Stop reading from the socket (TCP backpressure to Tote) while downstream catches up. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.conn?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.conn?.resume();
  }

  status(): ClientStatus {
    return {
      state: this.state,
      protocol: this.conn?.protocol ?? null,
      connectionId: this.conn?.id ?? null,
      connectedSince: this.connectedSince?.toISOString() ?? null,
      reconnects: this.reconnects,
      attempt: this.attempt,
      nextRetryAt: this.nextRetryAt?.toISOString() ?? null,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt?.toISOString() ?? null,
      paused: this.paused,
      framesReceived: this.counters.framesReceived,
      keepAlives: this.counters.keepAlives,
      operations: this.ops.status(),
    };
  }

  // --- connecting -----------------------------------------------------------

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
    const epoch = ++this.epoch;
    this.state = 'connecting';
    this.nextRetryAt = null;
    let url: string | undefined;
    let apiKey: string | undefined;
    try {
      const resolve = this.opts.resolveSecret ?? resolveSecret;
      url = await resolve(this.opts.url ?? this.cfg.subscriptionsUrl, { sensitive: false });
      apiKey = await resolve(this.opts.apiKey ?? this.cfg.apiKey);
    } catch (err) {
      if (epoch !== this.epoch) return;
      this.fail(`secret resolution failed: ${(err as Error).message}`);
      this.scheduleReconnect(retryClass({ kind: 'fault' }));
      return;
    }
    if (epoch !== this.epoch) return;
    if (!url || !apiKey) {
      this.fail('no Tote subscriptions URL or API key configured');
      this.scheduleReconnect(retryClass({ kind: 'unconfigured' }));
      return;
    }
    await this.ops.prepare(url, apiKey);
    if (epoch !== this.epoch || this.state !== 'connecting') return;

    const id = randomBytes(6).toString('hex');
    try {
      this.conn = new ToteConnection(
        {
          id,
          url,
          protocols: this.protocols(),
          apiKey,
          userAgent: this.cfg.userAgent,
          connectTimeoutMs: this.cfg.connectTimeoutMs,
          livenessTimeoutMs: this.cfg.livenessTimeoutMs,
          maxFrameBytes: this.cfg.maxFrameBytes,
          paused: this.paused,
          counters: this.counters,
        },
        this.connectionEvents,
      );
    } catch (err) {
      this.fail(`cannot open socket: ${(err as Error).message}`);
      this.scheduleReconnect(retryClass({ kind: 'fault' }));
      return;
    }
    this.log.info('tote connecting', { connectionId: id, attempt: this.attempt, protocols: this.protocols() });
  }

  private onAck(conn: ToteConnection): void {
    if (conn !== this.conn) return;
    const reconnect = this.everConnected;
    if (reconnect) this.reconnects++;
    this.everConnected = true;
    this.state = 'running';
    this.connectedSince = new Date();
    this.log.info('tote connected', { connectionId: conn.id, protocol: conn.protocol, reconnects: this.reconnects });
    this.ops.startAll(conn);
    this.opts.handlers.onConnected?.({ connectionId: conn.id, protocol: conn.protocol!, reconnect });
  }

  private onSocketGone(conn: ToteConnection, end: ConnectionEnd): void {
    if (conn !== this.conn) return;
    this.conn = null;
    this.ops.detach();
    this.ops.forget(conn);
    this.connectedSince = null;
    if (end.error) this.fail(end.error);
    if (this.state === 'stopped') return;
    this.log.warn('tote reconnecting', { attempt: this.attempt + 1, reason: end.why, class: end.cls, connectionId: conn.id });
    this.scheduleReconnect(end.cls);
  }

  private scheduleReconnect(cls: CloseClass): void {
    if (this.state === 'stopped') return;
    this.state = 'backoff';
    this.clearReconnect();
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

  private clearReconnect(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.nextRetryAt = null;
  }

  private fail(message: string): void {
    this.lastError = redact(message);
    this.lastErrorAt = new Date();
  }
}
