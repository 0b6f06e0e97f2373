import { describe, expect, it } from 'vitest';
import { legacyDialect, transportDialect, ProtocolError } from '../src/tote/protocol.js';
import { classifyClose, retryClass } from '../src/tote/close-reasons.js';
import { backoffDelay } from '../src/retry/backoff.js';

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err.reason;
    throw err;
  }
  return 'no error';
}

describe('legacy graphql-ws dialect (what Tote documents)', () => {
  it('writes init with the key in the payload and one start per operation', () => {
    expect(JSON.parse(legacyDialect.init({ authorization: 'Api-Key k' }))).toEqual({
      type: 'connection_init',
      payload: { authorization: 'Api-Key k' },
    });
    expect(JSON.parse(legacyDialect.subscribe('7', 'subscription { x }'))).toEqual({
      id: '7',
      type: 'start',
      payload: { query: 'subscription { x }' },
    });
    expect(JSON.parse(legacyDialect.unsubscribe('7'))).toEqual({ id: '7', type: 'stop' });
  });

  it('reads ack, ka, data, error, complete and connection_error', () => {
    expect(legacyDialect.parse('{"type":"connection_ack"}')).toEqual({ kind: 'ack' });
    expect(legacyDialect.parse('{"type":"ka"}')).toEqual({ kind: 'keepalive' });
    expect(legacyDialect.parse('{"id":"1","type":"data","payload":{"data":{"a":{"b":1}}}}')).toEqual({
      kind: 'data',
      id: '1',
      payload: { data: { a: { b: 1 } } },
    });
    expect(legacyDialect.parse('{"id":"2","type":"error","payload":{"message":"no field"}}')).toEqual({
      kind: 'error',
      id: '2',
      errors: [{ message: 'no field' }],
    });
    expect(legacyDialect.parse('{"id":"3","type":"complete"}')).toEqual({ kind: 'complete', id: '3' });
    expect(legacyDialect.parse('{"type":"connection_error","payload":{"message":"bad key"}}').kind).toBe('connection-error');
  });

  it('names what is wrong with a bad frame', () => {
    expect(reasonOf(() => legacyDialect.parse('{not json'))).toBe('invalid-json');
    expect(reasonOf(() => legacyDialect.parse('[1,2]'))).toBe('invalid-frame');
    expect(reasonOf(() => legacyDialect.parse('{"payload":{}}'))).toBe('invalid-frame');
    expect(reasonOf(() => legacyDialect.parse('{"type":"data","payload":{}}'))).toBe('invalid-frame');
    expect(reasonOf(() => legacyDialect.parse('{"type":"surprise"}'))).toBe('invalid-frame');
    expect(reasonOf(() => legacyDialect.parse('{"id":"1","type":"data","payload":"x"}'))).toBe('invalid-frame');
  });
});

describe('graphql-transport-ws dialect', () => {
  it('writes subscribe and answers pings', () => {
    expect(JSON.parse(transportDialect.subscribe('1', 'subscription { x }'))).toEqual({
      id: '1',
      type: 'subscribe',
      payload: { query: 'subscription { x }' },
    });
    expect(JSON.parse(transportDialect.pong())).toEqual({ type: 'pong' });
  });

  it('reads next as data and pong as keep-alive, and rejects bad frames', () => {
    expect(transportDialect.parse('{"id":"1","type":"next","payload":{"data":{"a":{}}}}')).toEqual({
      kind: 'data',
      id: '1',
      payload: { data: { a: {} } },
    });
    expect(transportDialect.parse('{"type":"pong"}')).toEqual({ kind: 'keepalive' });
    expect(transportDialect.parse('{"type":"ping"}')).toEqual({ kind: 'ping' });
    expect(reasonOf(() => transportDialect.parse('nope'))).toBe('invalid-json');
    expect(reasonOf(() => transportDialect.parse('{"type":"next"}'))).toBe('invalid-frame');
  });
});

describe('reconnect policy', () => {
  it('retries a rejected key slowly and everything else with backoff', () => {
    expect(classifyClose(4401)).toBe('auth');
    expect(classifyClose(4403)).toBe('auth');
    expect(classifyClose(1006, 401)).toBe('auth');
    for (const code of [1000, 1001, 1006, 1009, 1011, 4400, 4500]) expect(classifyClose(code)).toBe('retry');
  });

  it('waits the slow retry only for a refused key or a missing configuration, never for a fault on our side', () => {
    expect(retryClass({ kind: 'connection-error', payload: { message: 'x', extensions: { code: 'AUTH_NOT_AUTHENTICATED' } } })).toBe(
      'auth',
    );
    expect(retryClass({ kind: 'connection-error', payload: { message: 'Too many connections' } })).toBe('retry');
    expect(retryClass({ kind: 'unconfigured' })).toBe('auth');
    expect(retryClass({ kind: 'fault' })).toBe('retry');
    expect(retryClass({ kind: 'closed', code: 1006, httpStatus: 503 })).toBe('retry');
  });

  it('backs off exponentially with full jitter, capped at the maximum', () => {
    expect(backoffDelay(0, 1000, 60_000, () => 0.999)).toBeLessThanOrEqual(1000);
    expect(backoffDelay(3, 1000, 60_000, () => 0.999)).toBeGreaterThan(7000);
    expect(backoffDelay(20, 1000, 60_000, () => 0.999)).toBeLessThanOrEqual(60_000);
    // Never zero: the floor is half the minimum.
    expect(backoffDelay(5, 1000, 60_000, () => 0)).toBe(500);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(6, 1000, 60_000)));
    expect(spread.size).toBeGreaterThan(10);
  });
});
