/**
 * Exponential backoff with full jitter: a random delay in [0, min(max, min*2^n)].
 * Full jitter spreads many clients (or many operations) that failed together,
 * so they do not return in lockstep. The floor `minMs/2` stops a 0 ms retry
 * from hammering a server that just refused us.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.max(Math.floor(minMs / 2), Math.floor(random() * ceiling));
}
