import { describe, expect, it } from 'vitest';
import { uuidv7, uuidv7Time } from '../src/envelope/uuidv7.js';

describe('envelope ids (UUIDv7)', () => {
  it('stay well-formed, distinct and in arrival order across many refills of the random pool', () => {
    const at = Date.UTC(2026, 3, 11, 16, 15);
    // 5,000 ids: ten times the ids one 4 KiB draw of random bytes serves, many in the same millisecond.
    const ids = Array.from({ length: 5_000 }, (_, i) => uuidv7(at + Math.floor(i / 1000)));
    for (const id of ids) expect(uuidv7Time(id)).toBeGreaterThanOrEqual(at);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // The random tails differ too, not only the counters.
    expect(new Set(ids.map((id) => id.slice(-12))).size).toBe(ids.length);
  });
});
