/**
 * The two GraphQL-over-WebSocket dialects Tote may speak, normalised into one
 * set of inbound events so the client's state machine is written once.
 *
 * - `graphql-ws`: the legacy Apollo subscriptions-transport-ws protocol, the
 *   one Tote documents (connection_init / start / data / ka ...).
 * - `graphql-transport-ws`: the modern protocol, whose wire format comes from
 *   the graphql-ws package.
 */
import { GRAPHQL_TRANSPORT_WS_PROTOCOL, MessageType, stringifyMessage, validateMessage } from 'graphql-ws';
import type { WireProtocol } from '../envelope/envelope.js';
import { redact } from '../log/logger.js';

/**
 * The legacy subprotocol's name is ours to define: graphql-ws exports it only
 * as a deprecated constant that a future major may drop.
 */
export const LEGACY_PROTOCOL = 'graphql-ws' satisfies WireProtocol;
export const TRANSPORT_PROTOCOL = GRAPHQL_TRANSPORT_WS_PROTOCOL satisfies WireProtocol; // 'graphql-transport-ws'

/** Legacy message types (apollographql/subscriptions-transport-ws PROTOCOL.md). */
export enum LegacyMessageType {
  ConnectionInit = 'connection_init',
  ConnectionAck = 'connection_ack',
  ConnectionError = 'connection_error',
  KeepAlive = 'ka',
  Start = 'start',
  Data = 'data',
  Error = 'error',
  Complete = 'complete',
  Stop = 'stop',
  ConnectionTerminate = 'connection_terminate',
}

export interface ExecutionPayload {
  readonly data?: Record<string, unknown> | null;
  readonly errors?: readonly unknown[];
}

export type Inbound =
  | { readonly kind: 'ack' }
  | { readonly kind: 'keepalive' }
  | { readonly kind: 'ping' }
  | { readonly kind: 'data'; readonly id: string; readonly payload: ExecutionPayload }
  | { readonly kind: 'error'; readonly id: string; readonly errors: readonly unknown[] }
  | { readonly kind: 'complete'; readonly id: string }
  | { readonly kind: 'connection-error'; readonly payload: unknown };

/** A frame that is not valid for the negotiated protocol. `reason` picks the dead-letter reason. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly reason: 'invalid-json' | 'invalid-frame',
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export interface Dialect {
  readonly protocol: WireProtocol;
  init(payload: Record<string, unknown>): string;
  subscribe(id: string, query: string): string;
  unsubscribe(id: string): string;
  /** Sent before a clean close, where the protocol has one. */
  terminate(): string | null;
  /** Client-initiated keep-alive probe, where the protocol has one. */
  ping(): string | null;
  pong(): string;
  /** Reads a frame already parsed as a JSON object (the connection parses each frame once). */
  read(msg: Record<string, unknown>): Inbound;
  /** JSON.parse then read. */
  parse(text: string): Inbound;
}

/** A frame field for an error message, safe whatever the frame holds (an object whose toString is not callable, say). */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return v.slice(0, 64);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

export function parseJsonObject(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(`frame is not JSON: ${(err as Error).message}`, 'invalid-json');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ProtocolError('frame is not a JSON object', 'invalid-frame');
  }
  return v as Record<string, unknown>;
}

function requireId(msg: Record<string, unknown>): string {
  const id = msg.id;
  if (typeof id === 'string' && id.length > 0) return id;
  if (typeof id === 'number') return String(id);
  throw new ProtocolError(`"${describeValue(msg.type)}" frame has no id`, 'invalid-frame');
}

function asErrors(payload: unknown): readonly unknown[] {
  if (Array.isArray(payload)) return payload;
  if (payload && typeof payload === 'object' && Array.isArray((payload as { errors?: unknown }).errors)) {
    return (payload as { errors: unknown[] }).errors;
  }
  return [payload];
}

function asExecution(payload: unknown): ExecutionPayload {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new ProtocolError('data frame payload is not an object', 'invalid-frame');
  }
  return payload;
}

export const legacyDialect: Dialect = {
  protocol: 'graphql-ws',
  init: (payload) => JSON.stringify({ type: LegacyMessageType.ConnectionInit, payload }),
  subscribe: (id, query) => JSON.stringify({ id, type: LegacyMessageType.Start, payload: { query } }),
  unsubscribe: (id) => JSON.stringify({ id, type: LegacyMessageType.Stop }),
  terminate: () => JSON.stringify({ type: LegacyMessageType.ConnectionTerminate }),
  // The legacy protocol has no client ping; HotChocolate ignores a client "ka", so we send none.
  ping: () => null,
  pong: () => JSON.stringify({ type: LegacyMessageType.KeepAlive }),
  parse(text) {
    return legacyDialect.read(parseJsonObject(text));
  },
  read(msg) {
    switch (msg.type) {
      case LegacyMessageType.ConnectionAck:
        return { kind: 'ack' };
      case LegacyMessageType.KeepAlive:
        return { kind: 'keepalive' };
      case LegacyMessageType.ConnectionError:
        return { kind: 'connection-error', payload: msg.payload };
      case LegacyMessageType.Data:
        return { kind: 'data', id: requireId(msg), payload: asExecution(msg.payload) };
      case LegacyMessageType.Error:
        return { kind: 'error', id: requireId(msg), errors: asErrors(msg.payload) };
      case LegacyMessageType.Complete:
        return { kind: 'complete', id: requireId(msg) };
      case undefined:
        throw new ProtocolError('frame has no type', 'invalid-frame');
      default:
        throw new ProtocolError(`unexpected frame type "${describeValue(msg.type)}"`, 'invalid-frame');
    }
  },
};

export const transportDialect: Dialect = {
  protocol: 'graphql-transport-ws',
  init: (payload) => stringifyMessage({ type: MessageType.ConnectionInit, payload }),
  subscribe: (id, query) => stringifyMessage({ id, type: MessageType.Subscribe, payload: { query } }),
  unsubscribe: (id) => stringifyMessage({ id, type: MessageType.Complete }),
  terminate: () => null,
  ping: () => stringifyMessage({ type: MessageType.Ping }),
  pong: () => stringifyMessage({ type: MessageType.Pong }),
  parse(text) {
    return transportDialect.read(parseJsonObject(text));
  },
  read(obj) {
    let msg: ReturnType<typeof validateMessage>;
    try {
      msg = validateMessage(obj);
    } catch (err) {
      throw new ProtocolError(err instanceof Error ? err.message.slice(0, 300) : 'frame is not a valid message', 'invalid-frame');
    }
    switch (msg.type) {
      case MessageType.ConnectionAck:
        return { kind: 'ack' };
      case MessageType.Ping:
        return { kind: 'ping' };
      case MessageType.Pong:
        return { kind: 'keepalive' };
      case MessageType.Next:
        return { kind: 'data', id: msg.id, payload: msg.payload };
      case MessageType.Error:
        return { kind: 'error', id: msg.id, errors: msg.payload };
      case MessageType.Complete:
        return { kind: 'complete', id: msg.id };
      default:
        throw new ProtocolError(`unexpected frame type "${msg.type}" from server`, 'invalid-frame');
    }
  },
};

export function dialectFor(protocol: string): Dialect | undefined {
  if (protocol === LEGACY_PROTOCOL) return legacyDialect;
  if (protocol === TRANSPORT_PROTOCOL) return transportDialect;
  return undefined;
}

/** Short, key-free text for an error payload from Tote, whatever it holds. */
export function summariseErrors(v: unknown): string {
  const first = Array.isArray(v) ? v[0] : v;
  if (first && typeof first === 'object' && typeof (first as { message?: unknown }).message === 'string') {
    return redact((first as { message: string }).message).slice(0, 500);
  }
  if (typeof first === 'string') return redact(first).slice(0, 500);
  try {
    return redact(JSON.stringify(v) ?? String(v)).slice(0, 500);
  } catch {
    return 'unreadable error payload';
  }
}
