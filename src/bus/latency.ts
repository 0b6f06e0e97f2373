import type { LatencyHistogram } from './types.js';

/**
 * Publish latency upper bounds in seconds: a healthy Pub/Sub publish is tens
 * of milliseconds; an outage being ridden out is tens of seconds.
 */
export const LATENCY_BOUNDS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

/**
 * Percentiles over the most recent N samples (a fixed ring), so the /status
 * figure describes now, not the whole day; and a cumulative histogram of every
 * sample for /metrics, where the reader computes quantiles over any range.
 * Memory stays constant either way.
 */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private count = 0;
  private readonly buckets = new Float64Array(LATENCY_BOUNDS_S.length);
  private total = 0;
  private sumS = 0;

  constructor(size = 2048) {
    this.samples = new Float64Array(size);
  }

  record(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
    const s = ms / 1000;
    this.total++;
    this.sumS += s;
    for (let i = 0; i < LATENCY_BOUNDS_S.length; i++) if (s <= LATENCY_BOUNDS_S[i]!) this.buckets[i]!++;
  }

  percentile(p: number): number | null {
    if (this.count === 0) return null;
    const sorted = Array.from(this.samples.subarray(0, this.count)).sort((a, b) => a - b);
    const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return Math.round(sorted[idx]! * 100) / 100;
  }

  summary(): { p50Ms: number | null; p99Ms: number | null; samples: number } {
    return { p50Ms: this.percentile(50), p99Ms: this.percentile(99), samples: this.count };
  }

  histogram(): LatencyHistogram {
    return { bounds: LATENCY_BOUNDS_S, counts: Array.from(this.buckets), sum: this.sumS, count: this.total };
  }
}
