/**
 * The HTTP side: POST queries (introspection included) on the subscriptions
 * path, GET ?sdl for its SDL, and POST queries on the gateway path. Every
 * request needs the API key (401 without it), as Tote's gateway does.
 * Request errors (bad JSON, no query, syntax or validation errors) answer 400;
 * results, even with field errors, answer 200.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DocumentNode, GraphQLError as GraphQLErrorType, GraphQLSchema, ValidationRule } from 'graphql';
import { graphql } from './graphql-runtime.js';
import type { KeyCheck } from './auth.js';

const { OperationTypeNode, execute, getOperationAST, parse, printSchema, validate } = graphql;

export const SUBSCRIPTIONS_PATH = '/partner/connections/graphql/';
export const GATEWAY_PATH = '/partner/gateway/graphql';

/** Larger request bodies are refused with 413; real queries are a few KB. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface HttpDeps {
  readonly subscriptions: GraphQLSchema;
  readonly gateway: GraphQLSchema;
  readonly rules: readonly ValidationRule[];
  readonly keys: KeyCheck;
  /** When false the SDL is not served either: the client must fall back to its bundled documents. */
  readonly introspection: boolean;
}

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8' });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new RequestError(413, `Request body over ${MAX_BODY_BYTES} bytes.`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function runQuery(req: IncomingMessage, schema: GraphQLSchema, rules: readonly ValidationRule[]): Promise<[number, unknown]> {
  let body: { query?: unknown; variables?: unknown; operationName?: unknown };
  try {
    body = JSON.parse(await readBody(req)) as typeof body;
  } catch (err) {
    if (err instanceof RequestError) throw err;
    throw new RequestError(400, 'The request body is not JSON.');
  }
  if (!body || typeof body.query !== 'string') throw new RequestError(400, 'The request needs a "query" string.');
  let document: DocumentNode;
  try {
    document = parse(body.query);
  } catch (err) {
    return [400, { errors: [(err as GraphQLErrorType).toJSON()] }];
  }
  const errors = validate(schema, document, rules);
  if (errors.length) return [400, { errors: errors.map((e) => e.toJSON()) }];
  const operationName = typeof body.operationName === 'string' ? body.operationName : undefined;
  if (getOperationAST(document, operationName)?.operation === OperationTypeNode.SUBSCRIPTION) {
    return [400, { errors: [{ message: `Subscriptions are served over WebSocket at ${SUBSCRIPTIONS_PATH}.` }] }];
  }
  const result = await execute({
    schema,
    document,
    operationName,
    variableValues: (body.variables ?? undefined) as Record<string, unknown> | undefined,
  });
  return [200, result.errors ? { data: result.data ?? null, errors: result.errors.map((e) => e.toJSON()) } : { data: result.data }];
}

export async function handleHttp(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://simulator');
  try {
    if (url.pathname === '/health') return reply(res, 200, 'ok');
    const schema = url.pathname === SUBSCRIPTIONS_PATH ? deps.subscriptions : url.pathname === GATEWAY_PATH ? deps.gateway : undefined;
    if (!schema) return reply(res, 404, { errors: [{ message: `No endpoint at ${url.pathname}.` }] });
    if (!deps.keys.accepts(req.headers.authorization)) {
      return reply(res, 401, {
        errors: [{ message: 'The API key is missing or not valid.', extensions: { code: 'AUTH_NOT_AUTHENTICATED' } }],
      });
    }
    if (req.method === 'GET' && url.searchParams.has('sdl')) {
      return deps.introspection
        ? reply(res, 200, printSchema(schema))
        : reply(res, 403, { errors: [{ message: 'Introspection is disabled.' }] });
    }
    if (req.method !== 'POST') return reply(res, 405, { errors: [{ message: 'Use POST with a JSON body {query, variables}.' }] });
    const [status, body] = await runQuery(req, schema, deps.rules);
    reply(res, status, body);
  } catch (err) {
    if (err instanceof RequestError) return reply(res, err.status, { errors: [{ message: err.message }] });
    reply(res, 500, { errors: [{ message: 'Internal server error.' }] });
  }
}
