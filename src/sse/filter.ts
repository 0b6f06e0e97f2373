import { MESSAGE_TYPES } from '../catalog/catalog.js';

/**
 * What one client asked to see, from the query string of /events:
 * `types`, `productId`, `eventId`, each repeatable or comma-separated.
 *
 * A message passes when its type is wanted (or no types were given) and,
 * when any entity ids were given, it concerns one of them: its productId is
 * among the productIds or its eventId among the eventIds. Ids are OR-ed so a
 * race page can ask for its event and its products on one stream.
 */
export interface StreamFilter {
  readonly types: ReadonlySet<string> | null;
  readonly productIds: ReadonlySet<string> | null;
  readonly eventIds: ReadonlySet<string> | null;
}

export const MATCH_ALL: StreamFilter = Object.freeze({ types: null, productIds: null, eventIds: null });

/** More values than this in one parameter is a mistake or an attack; one stream per page stays small. */
export const MAX_FILTER_VALUES = 200;
const MAX_ID_LENGTH = 200;

export class FilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

type QueryValue = string | string[] | undefined | unknown;

function values(name: string, raw: QueryValue): Set<string> | null {
  if (raw === undefined) return null;
  const list = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => {
    if (typeof v !== 'string') throw new FilterError(`${name} must be a string or a comma-separated list`);
    return v.split(',');
  });
  const out = new Set<string>();
  for (const v of list.map((s) => s.trim()).filter(Boolean)) {
    if (v.length > MAX_ID_LENGTH || /[\0-\x1f]/.test(v)) throw new FilterError(`${name} has an invalid value`);
    out.add(v);
  }
  if (out.size > MAX_FILTER_VALUES) throw new FilterError(`${name} allows at most ${MAX_FILTER_VALUES} values`);
  return out.size ? out : null;
}

const KNOWN_TYPES = new Set(MESSAGE_TYPES);

export function parseFilter(query: Record<string, QueryValue>): StreamFilter {
  const types = values('types', query.types);
  if (types) {
    const unknown = [...types].filter((t) => !KNOWN_TYPES.has(t));
    if (unknown.length) {
      throw new FilterError(`unknown message type(s): ${unknown.slice(0, 5).join(', ')}; known: ${MESSAGE_TYPES.join(', ')}`);
    }
  }
  return { types, productIds: values('productId', query.productId), eventIds: values('eventId', query.eventId) };
}

export function matches(f: StreamFilter, type: string, productId: string | undefined, eventId: string | undefined): boolean {
  if (f.types && !f.types.has(type)) return false;
  if (!f.productIds && !f.eventIds) return true;
  return (
    (productId !== undefined && f.productIds !== null && f.productIds.has(productId)) ||
    (eventId !== undefined && f.eventIds !== null && f.eventIds.has(eventId))
  );
}
