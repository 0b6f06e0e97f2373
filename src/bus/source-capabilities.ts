import type { Registry } from 'prom-client';
import type { EnvelopeSource } from './types.js';

export type SourceState = 'starting' | 'running' | 'degraded' | 'closing' | 'closed';

/** What every reporting source tells /status; each kind of source adds its own fields. */
export interface SourceStatus {
  readonly kind: string;
  readonly state: SourceState;
}

/**
 * Optional capability of an EnvelopeSource: report its own state for /status
 * and /health, and metrics for /metrics. Detected at run time, so the plain
 * in-process bus needs none of it.
 */
export interface ReportingSource extends EnvelopeSource {
  status(): SourceStatus;
  readonly metricsRegistry?: Registry;
}

export function isReportingSource(s: EnvelopeSource): s is ReportingSource {
  return typeof (s as Partial<ReportingSource>).status === 'function';
}

/**
 * Optional capability of an EnvelopeSource that may miss messages: since
 * when it has every message, and a call when that moves forward (a gap).
 */
export interface CompletenessSource extends EnvelopeSource {
  completeSince(): number;
  onGap(listener: (completeSince: number) => void): () => void;
}

export function isCompletenessSource(s: EnvelopeSource): s is CompletenessSource {
  const c = s as Partial<CompletenessSource>;
  return typeof c.completeSince === 'function' && typeof c.onGap === 'function';
}
