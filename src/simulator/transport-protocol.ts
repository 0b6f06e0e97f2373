/**
 * Server side of `graphql-transport-ws`, run by the graphql-ws package's own
 * server (makeServer) on the same schema. Its `useServer` ws adapter is not
 * used as is because the faults need every outgoing byte and every keep-alive
 * ping to pass the socket's silence gate; this thin adapter is that one change.
 *
 * Auth failure: graphql-ws closes 4403 Forbidden. Keep-alive: a WebSocket
 * ping every kaIntervalMs; a client that has not answered the previous ping by
 * the next one is terminated, as useServer does.
 */
import type { IncomingMessage } from 'node:http';
import type { DocumentNode } from 'graphql';
import { graphql } from './graphql-runtime.js';
import { makeServer, type Server } from 'graphql-ws';
import { initAuthorization } from './auth.js';
import type { ProtocolDeps } from './legacy-protocol.js';
import { frameText, type SimSocket } from './sim-socket.js';
import type { OperationContext } from './subscription-schema.js';

const { GraphQLError, parse, validate } = graphql;

interface Extra {
  readonly sock: SimSocket;
  readonly request: IncomingMessage;
}

export class TransportServer {
  private readonly server: Server<Extra>;

  constructor(private readonly deps: ProtocolDeps) {
    this.server = makeServer<Record<string, unknown> | undefined, Extra>({
      schema: deps.schema,
      connectionInitWaitTimeout: deps.initTimeoutMs,
      onConnect: (ctx) => deps.keys.accepts(ctx.extra.request.headers.authorization, initAuthorization(ctx.connectionParams)),
      // Parsed and validated here so that a syntax error, like a validation error, fails only its
      // operation (graphql-ws would otherwise let parse throw and close the socket with 4500).
      onSubscribe: (ctx, _id, payload) => {
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (err) {
          return [err instanceof GraphQLError ? err : new GraphQLError(String(err))];
        }
        const errors = validate(deps.schema, document, deps.rules);
        if (errors.length) return errors;
        const contextValue: OperationContext = { onOverflow: () => ctx.extra.sock.dropSlow() };
        return {
          schema: deps.schema,
          document,
          contextValue,
          ...(payload.operationName ? { operationName: payload.operationName } : {}),
          ...(payload.variables ? { variableValues: payload.variables } : {}),
        };
      },
    });
  }

  accept(sock: SimSocket, request: IncomingMessage): void {
    const ws = sock.ws;
    let awaitingPong = false;
    const ping = setInterval(() => {
      if (sock.silent) {
        awaitingPong = false;
        return;
      }
      if (awaitingPong) {
        // The pong may be read but not yet handled (timers run before socket reads): look again after them.
        setImmediate(() => awaitingPong && ws.terminate());
        return;
      }
      awaitingPong = true;
      ws.ping();
    }, this.deps.kaIntervalMs);
    ws.on('pong', () => (awaitingPong = false));
    const closed = this.server.opened(
      {
        protocol: ws.protocol,
        send: (data) => sock.sendAndWait(data),
        close: (code, reason) => ws.close(code, reason),
        onMessage: (cb) =>
          ws.on('message', (data) => {
            cb(frameText(data)).catch(() => ws.close(4500, 'Internal server error'));
          }),
      },
      { sock, request },
    );
    ws.once('close', (code, reason) => {
      clearInterval(ping);
      void closed(code, String(reason));
    });
  }
}
