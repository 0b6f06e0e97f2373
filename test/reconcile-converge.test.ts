import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../src/envelope/envelope.js';
import type { ReconcilerStatus } from '../src/subscriber/reconcile/reconciler.js';
import { waitFor } from './helpers/ports.js';
import { startHarness, type Harness } from './helpers/subscriber-harness.js';

/**
 * Tote's side (what the simulator last announced per entity) against ours
 * (the last envelope per entity), compared field by field here rather than
 * with the reconciler's own comparison, so a fault in that comparison cannot
 * hide a difference.
 */
function differences(h: Harness): string[] {
  const ours = new Map<string, Envelope>();
  for (const e of h.envelopes) {
    const id = e.type === 'CompetitorStatusChanged' ? `${e.keys.eventId}/${e.keys.competitorId}` : (e.keys.productId ?? e.keys.eventId);
    ours.set(`${e.type}|${id}`, e);
  }
  const out: string[] = [];
  const plan = h.sim.plan();
  // The gateway has no SETTLED: a product settled during a gap is recovered as CLOSED.
  const selling = (s: unknown) => (s === 'SETTLED' ? 'CLOSED' : s);
  const gross = (p: Record<string, unknown> | undefined) =>
    (p?.total as { grossAmounts: { decimalAmount: number }[] } | undefined)?.grossAmounts[0]?.decimalAmount;
  const amounts = (p: Record<string, unknown> | undefined) =>
    JSON.stringify(
      ((p?.dividends ?? []) as { dividend: { amounts: { decimalAmount: number }[] } }[])
        .map((d) => d.dividend.amounts[0]!.decimalAmount)
        .sort(),
    );
  const positions = (p: Record<string, unknown> | undefined) =>
    JSON.stringify(
      ((p?.competitorResults ?? []) as { competitorId: string; finishingPosition: string }[])
        .map((r) => `${r.competitorId}:${r.finishingPosition}`)
        .sort(),
    );
  const check = (what: string, theirs: unknown, mine: unknown) => {
    if (theirs !== mine) out.push(`${what}: Tote ${String(theirs)}, ours ${String(mine)}`);
  };
  for (const p of plan.products) {
    const status = h.sim.lastSent('onProductStatusChanged', p.id);
    if (status) check(`status of ${p.name}`, selling(status.status), selling(ours.get(`ProductStatusChanged|${p.id}`)?.payload.status));
    const pool = h.sim.lastSent('onPoolTotalChanged', p.id);
    if (pool) check(`pool of ${p.name}`, gross(pool), gross(ours.get(`PoolTotalChanged|${p.id}`)?.payload));
    const div = h.sim.lastSent('onPoolDividendChanged', p.id);
    if (div) check(`dividends of ${p.name}`, amounts(div), amounts(ours.get(`PoolDividendChanged|${p.id}`)?.payload));
  }
  for (const r of plan.races) {
    const status = h.sim.lastSent('onEventStatusChanged', r.id);
    if (status) check(`status of ${r.name}`, status.status, ours.get(`EventStatusChanged|${r.id}`)?.payload.status);
    const result = h.sim.lastSent('onEventResultChanged', r.id);
    if (result) check(`result of ${r.name}`, positions(result), positions(ours.get(`EventResultChanged|${r.id}`)?.payload));
    for (const nr of r.fate.nonRunners) {
      const c = r.runners[nr.runner]!.id;
      if (h.sim.lastSent('onCompetitorStatusChanged', c))
        check(`runner ${c}`, 'WITHDRAWN', ours.get(`CompetitorStatusChanged|${r.id}/${c}`)?.payload.status);
    }
  }
  return out;
}

describe('a long disconnect while the day plays on', () => {
  let h: Harness;
  const reconciliation = () => h.service.status().reconciliation as ReconcilerStatus;

  beforeAll(async () => {
    // Ten simulated minutes a real second through the busiest part of the afternoon.
    h = await startHarness({
      sim: { autoplay: true, speed: 600, startAt: '14:00', date: '2026-11-21' },
      graphqlUrl: 'sim',
      env: { TOTE_RECONCILE_SETTLE_MS: '50', TOTE_RECONCILE_MIN_GAP_MS: '0', TOTE_RECONCILE_REQUEST_GAP_MS: '0' },
    });
    h.service.client.start();
    await waitFor(() => reconciliation().lastRun?.ok, { timeoutMs: 20_000, what: 'the first reconciliation' });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('leaves no difference between Tote and us once the reconnect has been reconciled', async () => {
    const runs = reconciliation().runs;
    // Forty simulated minutes without a socket: races go off, finish, are resulted and settled unseen.
    await h.sim.faults.changeWhileDisconnected([], { holdMs: 4_000 });
    const after = await waitFor(
      () => {
        const r = reconciliation();
        return r.runs > runs && r.state !== 'running' && r.lastRun?.ok && r.lastRun.reason === 'reconnect' ? r : null;
      },
      { timeoutMs: 30_000, what: 'the reconciliation after the gap' },
    );
    h.sim.pause();
    expect(after.lastRun!.corrections).toBeGreaterThan(0);
    for (const type of ['ProductStatusChanged', 'PoolTotalChanged', 'PoolDividendChanged', 'EventResultChanged']) {
      expect(after.lastRun!.correctionsByType[type], type).toBeGreaterThan(0);
    }
    // What was in flight when the clock stopped arrives; then nothing differs.
    let left: string[] = [];
    await waitFor(
      () => {
        left = differences(h);
        return left.length === 0;
      },
      { timeoutMs: 20_000, what: () => `no differences; still ${left.length}: ${left.slice(0, 5).join('; ')}` },
    );
  });
});
