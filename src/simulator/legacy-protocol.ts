/**
 * Server side of the legacy Apollo protocol (subprotocol `graphql-ws`), the
 * one Tote documents, behaving as HotChocolate's Apollo handler does:
 *
 * - `connection_init` within initTimeoutMs, else close 1002 (protocol error);
 *   a second one closes 1002 too.
 * - Bad key: `connection_error` with a message, then a normal close (1000).
 * - After `connection_ack`, `{"type":"ka"}` at once and every kaIntervalMs.
 * - Malformed JSON, a frame that is not an object or lacks `type`, or an
 *   unknown type: close 4400.
 * - `start` with a syntax or validation error: `{id, type:"error", payload}`
 *   with a single error object, for that operation only.
 * - `start` reusing a live id: close 1011 (internal server error).
 * - `stop`: the operation ends with `complete`. `connection_terminate`: close 1000.
 * - A client `ka` is ignored.
 */
import type { IncomingMessage } from 'node:http';
import type { DocumentNode, ExecutionResult, GraphQLError as GraphQLErrorType, GraphQLSchema, ValidationRule } from 'graphql';
import { graphql } from './graphql-runtime.js';
import { initAuthorization, type KeyCheck } from './auth.js';
import { frameText, type SimSocket } from './sim-socket.js';
import type { ProtocolFaults } from './protocol-faults.js';
import type { OperationContext } from './subscription-schema.js';

const { GraphQLError, OperationTypeNode, execute, getOperationAST, parse, subscribe, validate } = graphql;

export const LEGACY_CLOSE = {
  normal: 1000,
  protocolError: 1002,
  internalError: 1011,
  badMessage: 4400,
} as const;

const KA = '{"type":"ka"}';

export interface ProtocolDeps {
  readonly schema: GraphQLSchema;
  readonly rules: readonly ValidationRule[];
  readonly keys: KeyCheck;
  readonly kaIntervalMs: number;
  readonly initTimeoutMs: number;
  readonly faults: ProtocolFaults;
}

type Live = AsyncIterator<ExecutionResult> | 'starting';

function resultPayload(r: ExecutionResult): Record<string, unknown> {
  return r.errors?.length ? { data: r.data ?? null, errors: r.errors.map((e) => e.toJSON()) } : { data: r.data ?? null };
}

export class LegacyConnection {
  private initialised = false;
  private readonly live = new Map<string, Live>();
  private readonly initTimer: NodeJS.Timeout;
  private kaTimer: NodeJS.Timeout | undefined;
  private readonly context: OperationContext;

  constructor(
    private readonly sock: SimSocket,
    private readonly request: IncomingMessage,
    private readonly deps: ProtocolDeps,
  ) {
    this.context = { onOverflow: () => sock.dropSlow() };
    this.initTimer = setTimeout(() => this.close(LEGACY_CLOSE.protocolError, 'Connection initialization timeout.'), deps.initTimeoutMs);
    sock.ws.on('message', (data, isBinary) => this.onFrame(isBinary ? '' : frameText(data)));
    sock.ws.once('close', () => this.dispose());
  }

  private send(frame: Record<string, unknown>): void {
    this.sock.send(JSON.stringify(frame));
  }

  private close(code: number, reason: string): void {
    this.dispose();
    if (this.sock.open) this.sock.ws.close(code, reason);
  }

  private dispose(): void {
    clearTimeout(this.initTimer);
    if (this.kaTimer) clearInterval(this.kaTimer);
    this.kaTimer = undefined;
    for (const op of this.live.values()) if (op !== 'starting') void op.return?.();
    this.live.clear();
  }

  private onFrame(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.close(LEGACY_CLOSE.badMessage, 'Invalid message received: not JSON.');
    }
    if (!msg || typeof msg !== 'object' || typeof (msg as { type?: unknown }).type !== 'string') {
      return this.close(LEGACY_CLOSE.badMessage, 'Invalid message received: no type.');
    }
    const m = msg as { type: string; id?: unknown; payload?: unknown };
    switch (m.type) {
      case 'connection_init':
        return this.onInit(m.payload);
      case 'start':
        if (!this.initialised) return this.close(LEGACY_CLOSE.protocolError, 'Connection not initialized.');
        return void this.onStart(m.id, m.payload).catch(() => this.close(LEGACY_CLOSE.internalError, 'Internal server error.'));
      case 'stop':
        return this.onStop(m.id);
      case 'connection_terminate':
        return this.close(LEGACY_CLOSE.normal, 'Connection terminated by the client.');
      case 'ka':
        return;
      default:
        return this.close(LEGACY_CLOSE.badMessage, `Invalid message type: ${m.type.slice(0, 40)}.`);
    }
  }

  private onInit(payload: unknown): void {
    if (this.initialised) return this.close(LEGACY_CLOSE.protocolError, 'Too many initialisation requests.');
    clearTimeout(this.initTimer);
    if (this.deps.faults.initError) {
      this.send({ type: 'connection_error', payload: this.deps.faults.initError });
      return this.close(LEGACY_CLOSE.normal, 'Connection refused');
    }
    if (!this.deps.keys.accepts(this.request.headers.authorization, initAuthorization(payload))) {
      this.send({
        type: 'connection_error',
        payload: { message: 'The API key is missing or not valid.', extensions: { code: 'AUTH_NOT_AUTHENTICATED' } },
      });
      return this.close(LEGACY_CLOSE.normal, 'Unauthorized');
    }
    this.initialised = true;
    this.send({ type: 'connection_ack' });
    this.sock.send(KA);
    this.kaTimer = setInterval(() => this.sock.send(KA), this.deps.kaIntervalMs);
  }

  private onStop(id: unknown): void {
    if (typeof id !== 'string') return this.close(LEGACY_CLOSE.badMessage, 'Invalid message received: stop without id.');
    const op = this.live.get(id);
    if (!op) return;
    this.live.delete(id);
    if (op !== 'starting') void op.return?.();
    this.send({ id, type: 'complete' });
  }

  private operationError(id: string, err: GraphQLErrorType): void {
    this.live.delete(id);
    if (this.deps.faults.refusalsAsData) {
      this.send({ id, type: 'data', payload: { errors: [err.toJSON()] } });
      return this.send({ id, type: 'complete' });
    }
    this.send({ id, type: 'error', payload: err.toJSON() });
  }

  private async onStart(id: unknown, payload: unknown): Promise<void> {
    const p = payload as { query?: unknown; variables?: unknown; operationName?: unknown } | undefined;
    if (typeof id !== 'string' || !id || !p || typeof p !== 'object' || typeof p.query !== 'string') {
      return this.close(LEGACY_CLOSE.badMessage, 'Invalid message received: start needs an id and payload.query.');
    }
    if (this.live.has(id)) return this.close(LEGACY_CLOSE.internalError, `Subscriber for ${id.slice(0, 40)} already exists.`);
    this.live.set(id, 'starting');
    let document: DocumentNode;
    try {
      document = parse(p.query);
    } catch (err) {
      return this.operationError(id, err instanceof GraphQLError ? err : new GraphQLError(String(err)));
    }
    const errors = validate(this.deps.schema, document, this.deps.rules);
    if (errors.length) return this.operationError(id, errors[0]!);
    const operationName = typeof p.operationName === 'string' ? p.operationName : undefined;
    const op = getOperationAST(document, operationName);
    if (!op) return this.operationError(id, new GraphQLError('Could not determine the operation to run.'));
    const args = {
      schema: this.deps.schema,
      document,
      operationName,
      variableValues: (p.variables ?? undefined) as Record<string, unknown> | undefined,
      contextValue: this.context,
    };
    if (op.operation !== OperationTypeNode.SUBSCRIPTION) {
      const result = await execute(args);
      if (this.live.get(id) !== 'starting') return;
      this.live.delete(id);
      this.send({ id, type: 'data', payload: resultPayload(result) });
      return this.send({ id, type: 'complete' });
    }
    const result = await subscribe(args);
    if (!(Symbol.asyncIterator in result)) return this.operationError(id, result.errors?.[0] ?? new GraphQLError('Subscription failed.'));
    if (this.live.get(id) !== 'starting') {
      // Stopped, or the socket closed, while it was starting.
      void result.return?.();
      return;
    }
    this.live.set(id, result);
    for await (const r of result) this.send({ id, type: 'data', payload: resultPayload(r) });
    if (this.live.get(id) === result) {
      this.live.delete(id);
      this.send({ id, type: 'complete' });
    }
  }
}
