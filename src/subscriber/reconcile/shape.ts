/**
 * A subscription's payload shape, read from its catalog selection set, so
 * what the reconciliation builds from the gateway has exactly the fields a
 * live message of that type carries, and what it compares is the same
 * subset of both (a live payload may carry more: the introspected selection
 * can be wider than the catalog's).
 */
import type { CatalogEntry } from '../../catalog/catalog.js';

/** Field name -> its sub-selection; null for a leaf. */
export interface Shape {
  readonly [field: string]: Shape | null;
}

/** Parses a selection set without arguments, aliases or fragments, as the catalog writes them. */
export function parseSelection(selection: string): Shape {
  const tokens = selection.match(/[A-Za-z_][A-Za-z0-9_]*|[{}]/g) ?? [];
  let i = 0;
  const level = (): Shape => {
    const out: Record<string, Shape | null> = {};
    while (i < tokens.length && tokens[i] !== '}') {
      const name = tokens[i++]!;
      if (name === '{') throw new Error(`selection "${selection}": a sub-selection without a field`);
      if (tokens[i] === '{') {
        i++;
        out[name] = level();
        if (tokens[i++] !== '}') throw new Error(`selection "${selection}": unclosed {`);
      } else out[name] = null;
    }
    return out;
  };
  const shape = level();
  if (i !== tokens.length) throw new Error(`selection "${selection}": unexpected }`);
  return shape;
}

const shapes = new Map<string, Shape>();
export function shapeOf(entry: CatalogEntry): Shape {
  let s = shapes.get(entry.messageType);
  if (!s) shapes.set(entry.messageType, (s = parseSelection(entry.selection)));
  return s;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The fields a value has, as a shape (a list's items pooled): to compare another value on just those. */
export function shapeOfValue(value: unknown): Shape {
  const out: Record<string, Shape | null> = {};
  const items = Array.isArray(value) ? value : [value];
  for (const item of items) {
    if (!isObject(item)) continue;
    for (const [k, v] of Object.entries(item)) {
      const inner = Array.isArray(v) ? v.find((x) => x !== null && x !== undefined) : v;
      if (isObject(inner) || (Array.isArray(v) && isObject(inner))) {
        const merged = { ...((out[k] as Shape | null) ?? {}), ...shapeOfValue(v) };
        out[k] = merged;
      } else if (!(k in out)) out[k] = null;
    }
  }
  return out;
}

/**
 * Keeps the selected fields of `value`; every selected field that is absent
 * or null is listed in `missing` by its path (list items share one path), so
 * a gap is reported, never filled.
 */
export function project(
  value: unknown,
  shape: Shape,
  path = '',
  missing: Set<string> = new Set(),
): { value: unknown; missing: Set<string> } {
  if (Array.isArray(value)) return { value: value.map((v) => project(v, shape, path, missing).value), missing };
  if (!isObject(value)) return { value, missing };
  const out: Record<string, unknown> = {};
  for (const [field, sub] of Object.entries(shape)) {
    const v = value[field];
    const at = path ? `${path}.${field}` : field;
    if (v === undefined || v === null) {
      missing.add(at);
      continue;
    }
    out[field] = sub ? project(v, sub, at, missing).value : v;
  }
  return { value: out, missing };
}

/**
 * Text that is equal for two payloads that say the same thing: keys sorted,
 * lists compared as sets (Tote does not promise an order of results or
 * dividends), statuses in one case, money amounts as numbers.
 */
export function canonical(value: unknown, key = ''): string {
  if (Array.isArray(value))
    return `[${value
      .map((v) => canonical(v))
      .sort()
      .join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k], k)}`)
      .join(',')}}`;
  }
  if (key === 'status' && typeof value === 'string') return JSON.stringify(value.toUpperCase());
  if (key === 'decimalAmount' && typeof value === 'string' && Number.isFinite(Number(value))) return String(Number(value));
  return JSON.stringify(value);
}
