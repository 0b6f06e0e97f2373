import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  isEnumType,
  isInterfaceType,
  isObjectType,
  isRequiredArgument,
  isScalarType,
  isUnionType,
  parse,
  validate,
  type GraphQLNamedType,
  type GraphQLSchema,
  type IntrospectionQuery,
} from 'graphql';
import { documentFor, bundledDocument, type CatalogEntry } from '../catalog/catalog.js';

/**
 * Builds each operation's selection set from Tote's live subscription schema,
 * so a field Tote adds is captured and a field it renames is not silently
 * lost. Falls back to the catalog's bundled documents when introspection is
 * off or fails.
 */

/** Hard cap on selected fields per operation, so a huge or cyclic schema cannot build a huge document. */
export const MAX_SELECTED_FIELDS = 400;

/** wss://host/path -> https://host/path (Tote serves the subscription schema over HTTP on the same path). */
export function introspectionUrl(wsUrl: string): string {
  const u = new URL(wsUrl);
  if (u.protocol === 'wss:') u.protocol = 'https:';
  else if (u.protocol === 'ws:') u.protocol = 'http:';
  return u.toString();
}

export class IntrospectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IntrospectionError';
  }
}

export async function fetchSchema(httpUrl: string, apiKey: string, timeoutMs: number): Promise<GraphQLSchema> {
  let res: Response;
  try {
    res = await fetch(httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Api-Key ${apiKey}` },
      body: JSON.stringify({ query: getIntrospectionQuery({ descriptions: false }) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new IntrospectionError(`introspection request failed: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) throw new IntrospectionError(`introspection answered HTTP ${res.status}`);
  let body: { data?: IntrospectionQuery; errors?: { message?: string }[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new IntrospectionError('introspection answer is not JSON');
  }
  if (!body.data) {
    throw new IntrospectionError(`introspection refused: ${body.errors?.[0]?.message ?? 'no data'}`);
  }
  try {
    return buildClientSchema(body.data);
  } catch (err) {
    throw new IntrospectionError(`introspection result unusable: ${(err as Error).message}`, { cause: err });
  }
}

function isLeaf(t: GraphQLNamedType): boolean {
  return isScalarType(t) || isEnumType(t);
}

interface Walk {
  /** Leaf fields still allowed. */
  left: number;
  /** What was left out, for /status: a selection that silently shrank would hide data. */
  cut: Set<string>;
}

function selectionOf(schema: GraphQLSchema, type: GraphQLNamedType, depth: number, budget: Walk): string {
  if (isObjectType(type) || isInterfaceType(type)) {
    const parts: string[] = [];
    for (const field of Object.values(type.getFields())) {
      if (budget.left <= 0) {
        budget.cut.add(`fields beyond the first ${MAX_SELECTED_FIELDS}`);
        break;
      }
      // Required arguments cannot be filled in generically. Deprecated fields
      // are kept: Tote still sends them, and the selection is rebuilt at every
      // connect, so a removed field simply stops being asked for.
      if (field.args.some(isRequiredArgument)) {
        budget.cut.add(`${type.name}.${field.name} (needs arguments)`);
        continue;
      }
      const named = getNamedType(field.type);
      if (isLeaf(named)) {
        parts.push(field.name);
        budget.left--;
      } else if (depth > 1) {
        const sub = selectionOf(schema, named, depth - 1, budget);
        if (sub) parts.push(`${field.name} { ${sub} }`);
      } else {
        budget.cut.add(`${type.name}.${field.name} (deeper than the depth limit)`);
      }
    }
    if (isInterfaceType(type) && depth > 1) {
      for (const impl of schema.getPossibleTypes(type)) {
        const sub = selectionOf(schema, impl, depth - 1, budget);
        if (sub) parts.push(`... on ${impl.name} { ${sub} }`);
      }
    }
    return parts.join(' ');
  }
  if (isUnionType(type) && depth > 1) {
    const parts = ['__typename'];
    for (const member of type.getTypes()) {
      const sub = selectionOf(schema, member, depth - 1, budget);
      if (sub) parts.push(`... on ${member.name} { ${sub} }`);
    }
    return parts.join(' ');
  }
  return '';
}

export type SelectionSource = 'introspection' | 'bundled';

export interface OperationDocument {
  readonly document: string;
  readonly source: SelectionSource;
  /** Why the bundled document was used, when it was. */
  readonly note?: string;
}

/** Document for one entry from the live schema, or the bundled one with the reason. */
export function documentFromSchema(schema: GraphQLSchema, entry: CatalogEntry, depth: number): OperationDocument {
  const field = schema.getSubscriptionType()?.getFields()[entry.rootField];
  if (!field) {
    return { document: bundledDocument(entry), source: 'bundled', note: `schema has no subscription field ${entry.rootField}` };
  }
  const named = getNamedType(field.type);
  const walk: Walk = { left: MAX_SELECTED_FIELDS, cut: new Set() };
  const selection = isLeaf(named) ? '' : selectionOf(schema, named, depth, walk);
  if (!selection) {
    return { document: bundledDocument(entry), source: 'bundled', note: `no selectable fields on ${named.name}` };
  }
  const document = documentFor(entry, selection);
  const errors = validate(schema, parse(document));
  if (errors.length) {
    return { document: bundledDocument(entry), source: 'bundled', note: `built document invalid: ${errors[0]!.message}` };
  }
  if (walk.cut.size) {
    const cut = [...walk.cut];
    const note = `left out: ${cut.slice(0, 5).join(', ')}${cut.length > 5 ? ` and ${cut.length - 5} more` : ''}`;
    return { document, source: 'introspection', note };
  }
  return { document, source: 'introspection' };
}
