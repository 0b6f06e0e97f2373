/**
 * Percentiles over the most recent N samples (a fixed ring), so the figure
 * describes now, not the whole day, and memory stays constant.
 */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private count = 0;

  constructor(size = 2048) {
    this.samples = new Float64Array(size);
  }

  record(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
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
}
