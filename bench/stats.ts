/** Summaries shared by the benchmark sections. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Whole number with thousands separators, e.g. 48,426. */
export const fmt = (n: number): string => Math.round(n).toLocaleString('en-GB');
