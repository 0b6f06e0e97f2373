import type { EnvReader } from './env.js';

/** The reconciliation after each connect to Tote (src/subscriber/reconcile/). */
export interface ReconcileConfig {
  enabled: boolean;
  settleMs: number;
  minGapMs: number;
  timeoutMs: number;
  requestGapMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  maxEntities: number;
}

export function readReconcileConfig(r: EnvReader): ReconcileConfig {
  const cfg: ReconcileConfig = {
    // Tote's socket has no replay: what it sent while no socket was open is only on the query gateway.
    enabled: r.bool('TOTE_RECONCILE', true),
    // Reconnects this close together make one reconciliation, asked once the new socket's operations are started.
    settleMs: r.int('TOTE_RECONCILE_SETTLE_MS', 2_000, 0, 600_000),
    // At most one reconciliation this often: a storm of reconnects is a few queries a minute, not one per socket.
    minGapMs: r.int('TOTE_RECONCILE_MIN_GAP_MS', 15_000, 0, 3_600_000),
    // One whole reconciliation (a handful of pages) is given up after this and retried with backoff.
    timeoutMs: r.int('TOTE_RECONCILE_TIMEOUT_MS', 30_000, 100, 600_000),
    // Between two page requests of one reconciliation, so it never bursts at Tote's rate limits (unpublished).
    requestGapMs: r.int('TOTE_RECONCILE_REQUEST_GAP_MS', 250, 0, 60_000),
    // Full-jitter backoff between failed reconciliations (gateway down, 401, timeout).
    retryMinMs: r.int('TOTE_RECONCILE_RETRY_MIN_MS', 5_000, 10, 3_600_000),
    retryMaxMs: r.int('TOTE_RECONCILE_RETRY_MAX_MS', 300_000, 10, 86_400_000),
    // Entities whose last state is kept for today; a day has about 2,000 (products, events, runners).
    maxEntities: r.int('TOTE_RECONCILE_MAX_ENTITIES', 20_000, 100, 1_000_000),
  };
  if (cfg.retryMaxMs < cfg.retryMinMs) r.fail('TOTE_RECONCILE_RETRY_MAX_MS must be >= TOTE_RECONCILE_RETRY_MIN_MS');
  return cfg;
}
