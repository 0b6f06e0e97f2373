import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { createHistorySink } from '../src/history/index.js';
import { checkPayloadShape } from '../src/envelope/payload-shape.js';
import { badInputMix } from './chaos/bad-input.js';
import { waitFor } from './helpers/ports.js';
import { startHarness, TEST_KEY, type Harness } from './helpers/subscriber-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tote-bad-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function connected(name: string): Promise<{ h: Harness; opId: string }> {
  const env = {
    TOTE_PROTOCOL: 'graphql-ws',
    HISTORY: 'duckdb',
    DUCKDB_PATH: join(dir, name, 'tote.duckdb'),
    HISTORY_SPILL_FILE: join(dir, name, 'spill.jsonl'),
  };
  const history = createHistorySink(loadConfig({ ...env, TOTE_SUBSCRIPTIONS_URL: 'ws://unused', TOTE_API_KEY: TEST_KEY }).history);
  const harness = await startHarness({ env, history });
  harness.service.client.start();
  await waitFor(() => harness.service.client.status().state === 'running' && harness.sim.stats().operations === 15, {
    what: 'connected and subscribed',
  });
  const opId = harness.service.client.status().operations.onPoolTotalChanged!.id!;
  return { h: harness, opId };
}

describe('bad input from Tote', () => {
  it('a valid message nested 10,000 levels deep is dead-lettered and the subscriber keeps going', async () => {
    const c = await connected('deep');
    h = c.h;
    const [deep] = badInputMix(c.opId, TEST_KEY, 1);
    h.sim.faults.sendRaw(deep!.text);
    h.sim.faults.burst(5);
    await waitFor(() => h!.envelopes.length === 5, { what: 'the burst after the deep frame' });
    const s = h.service.status() as any;
    expect(s.deadLetterReasons['payload-too-deep']).toBe(1);
    expect(s.totals.received).toBe(6);
    expect(h.bus.recentDeadLetters()[0]!.type).toBe('PoolTotalChanged');
    expect(h.service.client.status().reconnects).toBe(0);
  });

  it('every frame of a 1,050-frame mix of many kinds becomes an envelope or a dead letter with its reason, stored in history, with the key cut out', async () => {
    const c = await connected('mix');
    h = c.h;
    const frames = badInputMix(c.opId, TEST_KEY, 1_050);
    const expected = new Map<string, number>();
    for (const f of frames) expected.set(f.expected, (expected.get(f.expected) ?? 0) + 1);
    for (const f of frames) h.sim.faults.sendRaw(f.text);
    const wantEnvelopes = expected.get('envelope') ?? 0;
    await waitFor(() => (h!.service.status() as any).totals.received === frames.length, {
      timeoutMs: 120_000,
      what: () =>
        `all ${frames.length} frames counted (have ${JSON.stringify((h!.service.status() as any).totals)} ${JSON.stringify((h!.service.status() as any).history)} reconnects ${h!.service.client.status().reconnects})`,
    });
    await h.service.stopAndFlush();
    const s = h.service.status() as any;
    expect(s.totals.published).toBe(wantEnvelopes);
    expect(h.envelopes).toHaveLength(wantEnvelopes);
    expect(s.totals.inFlight).toBe(0);
    expect(s.totals.deadLettered).toBe(frames.length - wantEnvelopes);
    for (const [reason, n] of expected) if (reason !== 'envelope') expect([reason, s.deadLetterReasons[reason]]).toEqual([reason, n]);
    // History holds each one once: every envelope and every dead letter.
    expect(s.history.stored).toBe(wantEnvelopes);
    expect(s.history.deadLettersStored).toBe(frames.length - wantEnvelopes);
    expect(s.history.backlog).toBe(0);
    // Prototype keys are data, not a way into Object.prototype.
    expect(({} as any).polluted).toBeUndefined();
    const dup = h.envelopes.find((e) => String(e.keys.productId).endsWith('-dup'));
    expect(dup?.payload.total).toBe(2);
    for (const d of h.bus.recentDeadLetters()) {
      expect(d.raw).not.toContain(TEST_KEY);
      expect(d.detail).not.toContain(TEST_KEY);
    }
    expect(h.bus.recentDeadLetters().some((d) => d.raw.includes('[redacted]'))).toBe(true);
    expect(h.service.client.status().reconnects).toBe(0);
  }, 150_000);
});

describe('payload shape limits', () => {
  it('accepts the depth of the catalog documents and refuses what would overflow the stack, without recursing', () => {
    let v: unknown = 1;
    for (let i = 0; i < 1_000_000; i++) v = [v];
    expect(checkPayloadShape(v)).toMatchObject({ ok: false, reason: 'payload-too-deep' });
    expect(checkPayloadShape({ a: { b: { c: { d: { e: { f: [1, 2, { g: null }] } } } } } })).toEqual({ ok: true });
  });
});
