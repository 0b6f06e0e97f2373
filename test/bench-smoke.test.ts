import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';

/**
 * `npm run bench` at tiny sizes (BENCH_SMOKE=1): proves every section still
 * runs and reports its figures beside their references. It asserts nothing
 * about speed; that is what the full benchmark is for.
 */
const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run bench (smoke sizes)', () => {
  it('runs every section and writes each figure beside its reference, as text and as JSON', { timeout: 600_000 }, async () => {
    const out = join(dir, 'results.json');
    const emulatorHost = inject('pubsubEmulatorHost');
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts'], {
      env: { ...process.env, BENCH_SMOKE: '1', BENCH_OUT: out, BENCH_DOCS: '0', PUBSUB_EMULATOR_HOST: emulatorHost },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, stderr).toBe(0);

    for (const heading of ['Ingest', 'End to end', 'SSE fan-out', 'stalled', 'SSE saturation', 'History'])
      expect(stdout).toContain(heading);
    for (const reference of ['bare ws + JSON.parse', 'bare node:http', 'better-sse 0.16.1', 'service / bare'])
      expect(stdout).toContain(reference);

    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r.smoke).toBe(true);
    expect(r.machine.node).toBe(process.version);
    expect(r.machine.loadAverageAtEnd).toHaveLength(3);
    for (const v of ['bare', 'noop', 'memory', 'duckdb']) expect(r.ingest.medians[v].perS).toBeGreaterThan(0);
    for (const kind of ['bare', 'better-sse', 'service']) {
      const s = r.sse.fanout[0].byKind[kind];
      expect(s.deliveriesPerS).toBeGreaterThan(0);
      expect(s.missed).toBe(0);
      expect(r.sse.stalled.byKind[kind].stalled).toBe(2);
      expect(r.sse.saturation.byKind[kind].length).toBeGreaterThan(0);
    }
    expect(r.sse.stalled.withoutStalled.service.stalled).toBe(0);
    expect(r.e2e.find((x: { mode: string }) => x.mode === 'memory').missed).toBe(0);
    expect(r.history.duckdb.perS).toBeGreaterThan(0);
    expect(r.history.bigquery.rowsPerRequest).toBeGreaterThan(0);
    if (emulatorHost) {
      expect(stdout).toContain('bare @google-cloud/pubsub');
      expect(r.ingest.medians.emulator.perS).toBeGreaterThan(0);
      expect(r.ingest.publish.bare.perS).toBeGreaterThan(0);
      expect(r.e2e.find((x: { mode: string }) => x.mode === 'emulator').missed).toBe(0);
      expect(r.history.at1000.publishRequests).toBeGreaterThan(0);
    }
  });
});
