import { readPublishOrder, type PublishOrder } from '../bus/publish-order.js';
import type { CatalogEntry } from '../catalog/catalog.js';
import type { DeadLetterReason, Envelope } from '../envelope/envelope.js';
import { uuidv7Time } from '../envelope/uuidv7.js';
import type { DayCard } from '../day-card/day-card.js';

/** `order`: the publisher's session and number, when the message carries them (see PublishOrder). */
export type Decoded =
  | { readonly ok: true; readonly envelope: Envelope; readonly order: PublishOrder | undefined }
  | { readonly ok: false; readonly reason: DeadLetterReason; readonly detail: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Turns a Pub/Sub message from a catalog topic back into the Envelope the
 * subscriber published. Anything that is not one (bad JSON, missing fields,
 * a type that does not belong on this topic) is refused with a reason, so it
 * is counted and dead-lettered instead of reaching a browser.
 */
export function decodeMessage(data: Buffer, attributes: Readonly<Record<string, string>>, entry: CatalogEntry): Decoded {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'invalid-json', detail: `data is not JSON: ${(err as Error).message}` };
  }
  if (!isObject(parsed)) return { ok: false, reason: 'invalid-frame', detail: 'data is not a JSON object' };
  const e = parsed;
  const problems: string[] = [];
  if (typeof e.id !== 'string' || uuidv7Time(e.id) === undefined) problems.push('id is not a UUIDv7');
  if (e.type !== entry.messageType) problems.push(`type ${JSON.stringify(e.type)} does not belong on ${entry.topic}`);
  if (typeof e.receivedAt !== 'string' || !Number.isFinite(Date.parse(e.receivedAt))) {
    problems.push('receivedAt is not a timestamp');
  }
  if (!isObject(e.keys)) problems.push('keys is not an object');
  else if (Object.values(e.keys).some((v) => typeof v !== 'string')) problems.push('keys must be strings');
  if (!isObject(e.payload)) problems.push('payload is not an object');
  if (attributes.envelopeId !== undefined && attributes.envelopeId !== e.id) {
    problems.push('envelopeId attribute differs from the data');
  }
  if (problems.length) return { ok: false, reason: 'invalid-frame', detail: problems.join('; ') };
  return {
    ok: true,
    order: readPublishOrder(attributes),
    envelope: {
      id: e.id as string,
      type: entry.messageType,
      rootField: typeof e.rootField === 'string' ? e.rootField : entry.rootField,
      receivedAt: e.receivedAt as string,
      source: typeof e.source === 'string' ? e.source : 'unknown',
      keys: e.keys as Envelope['keys'],
      payload: e.payload as Record<string, unknown>,
      protocol: e.protocol === 'graphql-ws' || e.protocol === 'graphql-transport-ws' ? e.protocol : null,
      connectionId: typeof e.connectionId === 'string' ? e.connectionId : '',
      instanceId: typeof e.instanceId === 'string' ? e.instanceId : '',
      ...(e.test === true || attributes.test === 'true' ? { test: true } : {}),
      ...(e.delivery === 'reconciled' || attributes.delivery === 'reconciled' ? { delivery: 'reconciled' as const } : {}),
    },
  };
}

export type DecodedCard =
  | { readonly ok: true; readonly card: DayCard; readonly fetchedAt: number }
  | { readonly ok: false; readonly reason: DeadLetterReason; readonly detail: string };

const isList = (v: unknown): v is Record<string, unknown>[] => Array.isArray(v) && v.every(isObject);

/**
 * A day card as the subscriber publishes it on DAY_CARD_TOPIC: the DayCard
 * JSON, with `kind: day-card` and `fetchedAt` (ISO) as attributes. Only the
 * outline is checked here (lists of objects with string ids); the names
 * directory reads each field defensively and caps the sizes.
 */
export function decodeDayCard(data: Buffer, attributes: Readonly<Record<string, string>>): DecodedCard {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'invalid-json', detail: `day card is not JSON: ${(err as Error).message}` };
  }
  const problems: string[] = [];
  if (attributes.kind !== undefined && attributes.kind !== 'day-card')
    problems.push(`kind ${JSON.stringify(attributes.kind)} is not day-card`);
  const fetchedAt = attributes.fetchedAt === undefined ? NaN : Date.parse(attributes.fetchedAt);
  if (!Number.isFinite(fetchedAt)) problems.push('fetchedAt attribute is not a timestamp');
  if (!isObject(parsed)) problems.push('data is not a JSON object');
  else {
    if (!isList(parsed.events) || parsed.events.some((e) => typeof e.id !== 'string'))
      problems.push('events is not a list of events with ids');
    if (!isList(parsed.products) || parsed.products.some((p) => typeof p.id !== 'string')) {
      problems.push('products is not a list of products with ids');
    }
  }
  if (problems.length) return { ok: false, reason: 'invalid-frame', detail: problems.join('; ') };
  const c = parsed as Record<string, unknown>;
  return { ok: true, card: { events: c.events, products: c.products, truncated: c.truncated === true } as DayCard, fetchedAt };
}
