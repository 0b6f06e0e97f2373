import { entryForMessageType } from '../../src/catalog/catalog.js';
import { extractKeys, makeEnvelope, type Envelope } from '../../src/envelope/envelope.js';

/**
 * An envelope of `type` as the subscriber makes it; throws when the payload lacks the entry's keys.
 * `at` stamps it (and its time-ordered id), for tests that need a strict order.
 */
export function testEnvelope(type: string, payload: Record<string, unknown>, at?: Date): Envelope {
  const entry = entryForMessageType(type)!;
  const keys = extractKeys(entry, payload);
  if (!keys.ok) throw new Error(`payload for ${type} misses keys`);
  return makeEnvelope(entry, payload, keys.keys, { source: 'test', protocol: 'graphql-ws', connectionId: 'c', instanceId: 'sub-1' }, at);
}

/** A PoolTotalChanged for one product (one ordering key each). */
export function poolTotal(productId: string, amount = 1): Envelope {
  return testEnvelope('PoolTotalChanged', {
    productId,
    isFinalized: false,
    total: { grossAmounts: [{ decimalAmount: amount, currency: { code: 'GBP' } }] },
  });
}
