import { bundledDocument, type CatalogEntry } from '../catalog/catalog.js';
import type { ToteConfig } from '../config/tote.js';
import type { DeadLetterReason } from '../envelope/envelope.js';
import { redact, type Logger } from '../log/logger.js';
import { backoffDelay } from '../retry/backoff.js';
import type { OperationFrame, ToteConnection } from './connection.js';
import type { ClientHandlers, FrameMeta } from './handlers.js';
import { summariseErrors, type ExecutionPayload } from './protocol.js';
import { documentDepth, pruneDocument } from './selection-depth.js';
import { documentFromSchema, fetchSchema, introspectionUrl, type OperationDocument, type SelectionSource } from './selection.js';

export type OperationState = 'pending' | 'active' | 'failed' | 'completed';

export interface OperationStatus {
  state: OperationState;
  id: string | null;
  selection: SelectionSource;
  /** Depth of the document in use (the root field is 1); less than the first one after Tote refused a deeper one. */
  selectionDepth: number;
  /** Why the document in use is not the full one built at connect, when it is not. */
  selectionNote: string | null;
  /** How many documents Tote refused since start; each refusal moved to a shallower one, then to the bundled one. */
  refusals: number;
  failures: number;
  lastError: string | null;
  lastErrorAt: string | null;
  nextRetryAt: string | null;
}

/** A document and where it stands on the way down after refusals. */
interface Rung extends OperationDocument {
  readonly depth: number;
  /** The bundled document reached after every shallower one was refused: stay on it. */
  readonly last: boolean;
}

interface Operation {
  readonly entry: CatalogEntry;
  /** The document built at connect (introspected, or bundled). */
  first: Rung;
  /** The document in use: `first`, or where refusals led. */
  doc: Rung;
  state: OperationState;
  id: string | null;
  /** The current subscription delivered data: an error after that is about one event, not the document. */
  delivered: boolean;
  refusals: number;
  failures: number;
  /** Failures since the operation last delivered data: drives its backoff. */
  consecutiveFailures: number;
  lastError: string | null;
  lastErrorAt: Date | null;
  retryTimer: NodeJS.Timeout | null;
  nextRetryAt: Date | null;
}

export interface OperationsOptions {
  readonly config: ToteConfig;
  readonly log: Logger;
  readonly handlers: ClientHandlers;
  readonly entries: readonly CatalogEntry[];
  /** Replace an entry's selection (used to try documents against a schema). */
  readonly selectionOverride?: ((entry: CatalogEntry) => string | undefined) | undefined;
}

function rung(doc: OperationDocument, last = false): Rung {
  return { ...doc, depth: documentDepth(doc.document), last };
}

/**
 * One operation per catalog entry: its document, its subscription on the
 * current socket, and its own retries, so one failing operation never holds
 * up the others. A document Tote refuses is not sent again as it was: each
 * refusal steps to the same selection one level shallower, down to depth 2,
 * then to the bundled document, where it stays.
 */
export class Operations {
  private readonly cfg: ToteConfig;
  private readonly ops = new Map<string, Operation>(); // by rootField
  /** Operation id -> operation and its socket. Ids are never reused, so a late frame of an old socket cannot land on a new subscription. */
  private readonly routes = new Map<string, { readonly op: Operation; readonly conn: ToteConnection }>();
  private current: ToteConnection | null = null;
  private nextOpId = 1;

  constructor(private readonly o: OperationsOptions) {
    this.cfg = o.config;
    for (const entry of o.entries) {
      const first = rung(this.bundled(entry));
      this.ops.set(entry.rootField, {
        entry,
        first,
        doc: first,
        state: 'pending',
        id: null,
        delivered: false,
        refusals: 0,
        failures: 0,
        consecutiveFailures: 0,
        lastError: null,
        lastErrorAt: null,
        retryTimer: null,
        nextRetryAt: null,
      });
    }
  }

  /** A new day: forget where refusals led, so a refusal that was passing trouble costs at most a day of fields. */
  reset(): void {
    for (const op of this.ops.values()) {
      op.doc = op.first;
      op.refusals = 0;
    }
  }

  /**
   * Builds each operation's document for the next socket. Where it comes out
   * as before, the document refusals led to is kept: a reconnect does not
   * walk down the same steps again.
   */
  async prepare(url: string, apiKey: string): Promise<void> {
    const set = (op: Operation, doc: OperationDocument) => {
      const stepped = op.doc !== op.first && doc.document === op.first.document;
      op.first = rung(doc);
      if (!stepped) op.doc = op.first;
    };
    if (!this.cfg.introspect || this.o.selectionOverride) {
      for (const op of this.ops.values()) set(op, this.bundled(op.entry));
      return;
    }
    try {
      const schema = await fetchSchema(introspectionUrl(url), apiKey, this.cfg.connectTimeoutMs);
      for (const op of this.ops.values()) set(op, documentFromSchema(schema, op.entry, this.cfg.selectionDepth));
    } catch (err) {
      const note = redact((err as Error).message);
      this.o.log.warn('tote schema introspection failed; using bundled documents', { error: note });
      for (const op of this.ops.values()) set(op, { ...this.bundled(op.entry), note });
    }
  }

  /** On connection_ack: one subscription per operation on this socket. */
  startAll(conn: ToteConnection): void {
    this.current = conn;
    for (const op of this.ops.values()) {
      this.clearRetry(op);
      this.subscribe(conn, op);
    }
  }

  /**
   * The socket is gone or closing: every operation waits for the next one.
   * Routes of a closing socket stay until forget(), so the data Tote had
   * already sent on it still reaches its operation.
   */
  detach(): void {
    this.current = null;
    for (const op of this.ops.values()) {
      this.clearRetry(op);
      op.id = null;
      op.state = 'pending';
    }
  }

  /** A socket is closed for good: drop its routes. */
  forget(conn: ToteConnection): void {
    for (const [id, r] of this.routes) if (r.conn === conn) this.routes.delete(id);
  }

  /** Ids of the subscriptions live on `conn`, to stop them before a clean close. */
  idsOn(conn: ToteConnection): string[] {
    return [...this.routes].filter(([, r]) => r.conn === conn).map(([id]) => id);
  }

  onFrame(conn: ToteConnection, msg: OperationFrame, raw: string): void {
    const route = this.routes.get(msg.id);
    const op = route && route.conn === conn ? route.op : undefined;
    switch (msg.kind) {
      case 'data':
        if (!op) {
          this.badFrame(conn, 'unknown-operation', `data for unknown operation id "${msg.id.slice(0, 64)}"`, raw);
          return;
        }
        this.onData(conn, op, msg.payload, raw, op.id === msg.id && conn.live);
        return;
      case 'error':
        if (op && op.id === msg.id) this.onRefused(conn, op, msg.errors);
        else if (!this.issued(msg.id))
          this.badFrame(conn, 'unknown-operation', `error for unknown operation id "${msg.id.slice(0, 64)}"`, raw);
        return;
      case 'complete':
        if (op && op.id === msg.id) this.onComplete(conn, op);
        else if (!this.issued(msg.id))
          this.badFrame(conn, 'unknown-operation', `complete for unknown operation id "${msg.id.slice(0, 64)}"`, raw);
        return;
    }
  }

  /** An id this client once used: a late error or complete for it is protocol chatter (after a stop or a refusal), not news. */
  private issued(id: string): boolean {
    return /^[1-9][0-9]{0,15}$/.test(id) && Number(id) < this.nextOpId;
  }

  status(): Record<string, OperationStatus> {
    const out: Record<string, OperationStatus> = {};
    for (const [root, op] of this.ops) {
      out[root] = {
        state: op.state,
        id: op.id,
        selection: op.doc.source,
        selectionDepth: op.doc.depth,
        selectionNote: op.doc.note ?? null,
        refusals: op.refusals,
        failures: op.failures,
        lastError: op.lastError,
        lastErrorAt: op.lastErrorAt?.toISOString() ?? null,
        nextRetryAt: op.nextRetryAt?.toISOString() ?? null,
      };
    }
    return out;
  }

  // --- one operation -------------------------------------------------------

  private bundled(entry: CatalogEntry): OperationDocument {
    const override = this.o.selectionOverride?.(entry);
    if (override) return { document: `subscription { ${entry.rootField} { ${override} } }`, source: 'bundled', note: 'override' };
    return { document: bundledDocument(entry), source: 'bundled' };
  }

  private meta(conn: ToteConnection): FrameMeta {
    return { protocol: conn.protocol!, connectionId: conn.id, receivedAt: new Date() };
  }

  private badFrame(conn: ToteConnection, reason: DeadLetterReason, detail: string, raw: string, entry?: CatalogEntry): void {
    this.o.handlers.onBadFrame(reason, detail, raw, this.meta(conn), entry);
  }

  private subscribe(conn: ToteConnection, op: Operation): void {
    if (op.id) this.routes.delete(op.id);
    op.id = String(this.nextOpId++);
    this.routes.set(op.id, { op, conn });
    op.state = 'active';
    op.delivered = false;
    op.nextRetryAt = null;
    conn.send(conn.dialect!.subscribe(op.id, op.doc.document));
  }

  /** `current`: the frame is for the operation's live subscription (not one being stopped). */
  private onData(conn: ToteConnection, op: Operation, payload: ExecutionPayload, raw: string, current: boolean): void {
    const value = payload.data?.[op.entry.rootField];
    const errors = Array.isArray(payload.errors) && payload.errors.length ? payload.errors : null;
    if (value === undefined || value === null) {
      if (errors && current && !op.delivered) {
        // Errors and no data before any data: the subscription itself failed
        // (how HotChocolate's legacy handler refuses a document). Nothing of
        // this type arrived, so nothing is counted against it.
        this.onRefused(conn, op, errors);
        return;
      }
      if (errors) {
        // One event Tote could not resolve: it is a message of this type, kept as a dead letter.
        this.recordError(op, summariseErrors(errors));
        op.failures++;
        op.consecutiveFailures++;
      }
      const reason: DeadLetterReason = errors ? 'graphql-error' : 'payload-not-object';
      this.badFrame(conn, reason, `no data.${op.entry.rootField} in frame`, raw, op.entry);
      return;
    }
    // Partial errors are Tote's resolver problems: recorded on the operation, the data still flows.
    if (errors) this.recordError(op, summariseErrors(errors));
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.badFrame(conn, 'payload-not-object', `data.${op.entry.rootField} is not an object`, raw, op.entry);
      return;
    }
    op.delivered = true;
    op.consecutiveFailures = 0;
    this.o.handlers.onMessage(op.entry, value as Record<string, unknown>, raw, this.meta(conn));
  }

  private recordError(op: Operation, message: string): void {
    op.lastError = redact(message);
    op.lastErrorAt = new Date();
  }

  /** Tote refused the subscription (an error frame, or errors and no data before any data). */
  private onRefused(conn: ToteConnection, op: Operation, errors: readonly unknown[]): void {
    if (op.id) this.routes.delete(op.id);
    op.id = null;
    op.state = 'failed';
    op.failures++;
    op.refusals++;
    this.recordError(op, summariseErrors(errors));
    const next = this.shallower(op);
    let delay: number;
    if (next.document !== op.doc.document) {
      // A different document is a new question, not a repeat: ask it at the minimum delay.
      this.o.log.warn('tote refused an operation document; trying another', {
        rootField: op.entry.rootField,
        error: op.lastError,
        fromDepth: op.doc.depth,
        toDepth: next.depth,
        selection: next.source,
      });
      op.doc = next;
      delay = this.cfg.operationRetryMinMs;
    } else {
      op.doc = next;
      op.consecutiveFailures++;
      delay = this.backoff(op);
      this.o.log.error('tote operation failed', {
        rootField: op.entry.rootField,
        error: op.lastError,
        failures: op.failures,
        retryInMs: delay,
      });
    }
    this.retry(conn, op, delay);
  }

  /** The document to ask next after a refusal; the same one (with backoff) once the bundled one was refused. */
  private shallower(op: Operation): Rung {
    const doc = op.doc;
    if (doc.last) return doc;
    const why = op.lastError ?? 'refused';
    if (doc.depth > 2) {
      const pruned = pruneDocument(doc.document, doc.depth - 1);
      if (pruned) {
        const note = `Tote refused the depth-${doc.depth} document (${why}); using depth ${doc.depth - 1}`;
        return rung({ document: pruned, source: doc.source, note });
      }
    }
    const bundled = this.bundled(op.entry);
    if (bundled.document === doc.document) return { ...doc, last: true };
    const note = `Tote refused every shallower document (${why}); using the bundled document`;
    return rung({ ...bundled, note }, true);
  }

  private onComplete(conn: ToteConnection, op: Operation): void {
    if (op.id) this.routes.delete(op.id);
    op.id = null;
    op.state = 'completed';
    // Tote ended a subscription we still want (e.g. a server redeploy): ask
    // again, backing off if it has been failing (errors, then complete).
    const delay = op.consecutiveFailures > 0 ? this.backoff(op) : this.cfg.operationRetryMinMs;
    this.o.log.warn('tote completed an operation; resubscribing', { rootField: op.entry.rootField, retryInMs: delay });
    this.retry(conn, op, delay);
  }

  private backoff(op: Operation): number {
    return backoffDelay(op.consecutiveFailures - 1, this.cfg.operationRetryMinMs, this.cfg.operationRetryMaxMs);
  }

  private retry(conn: ToteConnection, op: Operation, delayMs: number): void {
    this.clearRetry(op);
    op.nextRetryAt = new Date(Date.now() + delayMs);
    op.retryTimer = setTimeout(() => {
      op.retryTimer = null;
      op.nextRetryAt = null;
      if (this.current !== conn || !conn.acked) return;
      this.subscribe(conn, op);
    }, delayMs);
  }

  private clearRetry(op: Operation): void {
    if (op.retryTimer) clearTimeout(op.retryTimer);
    op.retryTimer = null;
    op.nextRetryAt = null;
  }
}
