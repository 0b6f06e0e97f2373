/**
 * Messages per second per type over the last `windowSec` seconds, kept as a
 * ring of one-second buckets per type: constant memory whatever the rate.
 */
export class RateWindow {
  private readonly buckets = new Map<string, Uint32Array>();
  private readonly totals = new Map<string, number>();
  private currentSec = 0;

  constructor(readonly windowSec = 60) {}

  record(type: string, nowMs = Date.now()): void {
    this.advance(nowMs);
    let b = this.buckets.get(type);
    if (!b) {
      b = new Uint32Array(this.windowSec);
      this.buckets.set(type, b);
    }
    b[this.currentSec % this.windowSec]!++;
    this.totals.set(type, (this.totals.get(type) ?? 0) + 1);
  }

  /** Clears buckets for the seconds that passed since the last call. */
  private advance(nowMs: number): void {
    const sec = Math.floor(nowMs / 1000);
    if (sec <= this.currentSec) return;
    const gap = Math.min(sec - this.currentSec, this.windowSec);
    for (const b of this.buckets.values()) {
      for (let i = 1; i <= gap; i++) b[(this.currentSec + i) % this.windowSec] = 0;
    }
    this.currentSec = sec;
  }

  /** Per type: messages per second over the window, and the count since start. */
  snapshot(nowMs = Date.now()): Record<string, { perSec: number; total: number }> {
    this.advance(nowMs);
    const out: Record<string, { perSec: number; total: number }> = {};
    for (const [type, b] of this.buckets) {
      let sum = 0;
      for (const n of b) sum += n;
      out[type] = { perSec: Math.round((sum / this.windowSec) * 1000) / 1000, total: this.totals.get(type) ?? 0 };
    }
    return out;
  }
}
