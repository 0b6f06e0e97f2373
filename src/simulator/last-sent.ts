/**
 * The last payload sent per (root field, primary key value), for tests and
 * tools that compare what arrived downstream with what was sent. The primary
 * key is the catalog entry's most specific required key (betId, selectionId,
 * competitorId, productId or eventId).
 *
 * Bounded: at most PER_FIELD keys per root field; past that the least recently
 * written key is forgotten.
 */
import { CATALOG } from '../catalog/catalog.js';

export const PER_FIELD = 5_000;

const primaryKey = new Map(
  CATALOG.map((e) => {
    const required = e.keys.filter((k) => k.required);
    return [e.rootField, required[required.length - 1]!.name] as const;
  }),
);

export function primaryKeyOf(rootField: string): string | undefined {
  return primaryKey.get(rootField);
}

export class LastSent {
  private readonly byField = new Map<string, Map<string, Record<string, unknown>>>();

  record(rootField: string, payload: Record<string, unknown>): void {
    const key = primaryKey.get(rootField);
    const value = key ? payload[key] : undefined;
    if (typeof value !== 'string') return;
    let map = this.byField.get(rootField);
    if (!map) this.byField.set(rootField, (map = new Map()));
    map.delete(value);
    map.set(value, payload);
    if (map.size > PER_FIELD) map.delete(map.keys().next().value!);
  }

  get(rootField: string, keyValue: string): Record<string, unknown> | undefined {
    return this.byField.get(rootField)?.get(keyValue);
  }
}
