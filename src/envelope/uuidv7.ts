import { randomFillSync } from 'node:crypto';

/**
 * RFC 9562 UUIDv7: 48-bit Unix milliseconds, then random bits. Within one
 * millisecond a 12-bit counter (rand_a) keeps ids from one process strictly
 * increasing, so sorting envelope ids sorts them by arrival.
 */
let lastMs = -1;
let counter = 0;
/**
 * Random bytes drawn 4 KiB at a time and used 10 per id: a randomFillSync
 * call per id was about a tenth of the subscriber's CPU per message.
 */
const pool = Buffer.alloc(4096);
let poolPos = pool.length;
/** The id's 16 bytes, reused: each id leaves as a new string. */
const b = Buffer.alloc(16);

export function uuidv7(now: number = Date.now()): string {
  let ms = now;
  if (ms <= lastMs) {
    ms = lastMs;
    counter++;
    if (counter > 0xfff) {
      // Counter exhausted inside one millisecond: borrow the next millisecond
      // rather than lose monotonicity.
      ms = lastMs + 1;
      counter = 0;
    }
  } else {
    counter = 0;
  }
  lastMs = ms;
  if (poolPos + 8 > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | ((counter >> 8) & 0x0f);
  b[7] = counter & 0xff;
  b[8] = 0x80 | (pool[poolPos]! & 0x3f);
  pool.copy(b, 9, poolPos + 1, poolPos + 8);
  poolPos += 8;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Milliseconds since the epoch encoded in a UUIDv7, or undefined for anything else. */
export function uuidv7Time(id: string): number | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(id)) return undefined;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
