import type { DeadLetterReason } from '../../src/envelope/envelope.js';

/** What the subscriber must make of a frame: an envelope, or a dead letter with this reason. */
export type Expected = 'envelope' | DeadLetterReason;

export interface BadFrame {
  kind: string;
  text: string;
  expected: Expected;
}

/** JSON text nested `depth` objects deep, built as text: JSON.stringify itself overflows past a few thousand. */
function nested(depth: number): string {
  return '{"n":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** A legacy-protocol data frame for operation `id` carrying `value` as data.onPoolTotalChanged. */
function data(id: string, valueText: string): string {
  return `{"type":"data","id":${JSON.stringify(id)},"payload":{"data":{"onPoolTotalChanged":${valueText}}}}`;
}

/**
 * One of each kind of awkward frame a Tote socket can carry, for the
 * PoolTotalChanged operation `opId` on the legacy protocol. `secret` is put
 * where a server might echo it, to prove it is cut out of dead letters.
 */
export function badInputKinds(opId: string, secret: string, n: number): BadFrame[] {
  const p = `bad-${n}`;
  const j = (v: unknown) => JSON.stringify(v);
  return [
    // JSON.parse takes any depth; JSON.stringify overflows the stack at a few thousand.
    { kind: 'nested 10,000 deep', text: data(opId, `{"productId":"${p}-deep","total":${nested(10_000)}}`), expected: 'payload-too-deep' },
    { kind: 'nested 40 deep', text: data(opId, `{"productId":"${p}-d40","total":${nested(40)}}`), expected: 'envelope' },
    {
      kind: '300,000 values',
      text: data(opId, j({ productId: `${p}-many`, total: new Array(300_000).fill(0) })),
      expected: 'payload-too-large',
    },
    {
      kind: 'prototype keys',
      text: data(opId, `{"productId":"${p}-proto","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}`),
      expected: 'envelope',
    },
    {
      kind: 'duplicated keys',
      text: data(opId, `{"productId":"${p}-dupA","productId":"${p}-dup","total":1,"total":2}`),
      expected: 'envelope',
    },
    {
      kind: 'numbers as strings',
      text: data(opId, j({ productId: `${p}-str`, total: { grossAmount: '12.50', netAmount: '1e400' } })),
      expected: 'envelope',
    },
    { kind: 'numeric key', text: data(opId, j({ productId: 4242 + n })), expected: 'envelope' },
    { kind: 'null key', text: data(opId, j({ productId: null, total: null })), expected: 'missing-keys' },
    { kind: 'key is an object', text: data(opId, j({ productId: { id: 'x' } })), expected: 'missing-keys' },
    { kind: 'null payload', text: data(opId, 'null'), expected: 'payload-not-object' },
    { kind: 'array payload', text: data(opId, '[1,2,3]'), expected: 'payload-not-object' },
    { kind: 'string payload', text: data(opId, '"text"'), expected: 'payload-not-object' },
    { kind: 'unicode and emoji', text: data(opId, j({ productId: `${p}-üñí`, note: '🏇 Cheltenham — £5' })), expected: 'envelope' },
    { kind: 'large string', text: data(opId, j({ productId: `${p}-big`, note: 'x'.repeat(512 * 1024) })), expected: 'envelope' },
    { kind: 'echoed key, no product', text: data(opId, j({ echo: `Api-Key ${secret}` })), expected: 'missing-keys' },
    { kind: 'invalid JSON', text: `{"type":"data","id":"${opId}","payload":{"data":{`, expected: 'invalid-json' },
    { kind: 'invalid JSON with key', text: `{"type":"data","auth":"${secret}",`, expected: 'invalid-json' },
    {
      kind: 'unknown operation',
      text: `{"type":"data","id":"no-such-${n}","payload":{"data":{"onPoolTotalChanged":{"productId":"x"}}}}`,
      expected: 'unknown-operation',
    },
    { kind: 'JSON null frame', text: 'null', expected: 'invalid-frame' },
    { kind: 'JSON array frame', text: '[]', expected: 'invalid-frame' },
    { kind: 'frame without type', text: '{}', expected: 'invalid-frame' },
  ];
}

/** `total` frames cycling through every kind (at least one of each). */
export function badInputMix(opId: string, secret: string, total: number): BadFrame[] {
  const out: BadFrame[] = [];
  for (let n = 0; out.length < total; n++) {
    for (const f of badInputKinds(opId, secret, n)) {
      if (out.length >= total) break;
      out.push(f);
    }
  }
  return out;
}
