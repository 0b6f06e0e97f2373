import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvReader } from '../src/config/env.js';
import { readSseConfig } from '../src/config/sse.js';
import { MemoryBus } from '../src/bus/memory-bus.js';
import type { DayCard } from '../src/day-card/day-card.js';
import { createLogger, setLogLevel, setLogWriter } from '../src/log/logger.js';
import { DayCardRelay } from '../src/subscriber/day-card-relay.js';
import { startSseService } from '../src/sse/index.js';
import { waitFor } from './helpers/ports.js';
import { startHarness, type Harness } from './helpers/subscriber-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const json = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
};

describe('readiness: /ready, beside /health', () => {
  it('is ready while correctly idle outside the window, and not ready when stopped inside it', async () => {
    let clock = new Date('2026-07-01T23:30:00Z'); // 00:30 BST: outside 06:00-23:00
    h = await startHarness({ service: { now: () => clock } });
    const outside = await json(`${h.service.url}/ready`);
    expect(outside.status).toBe(200);
    expect(outside.body.state).toBe('idle');
    expect((await fetch(`${h.service.url}/health`)).status).toBe(200);

    clock = new Date('2026-07-01T10:00:00Z'); // 11:00 BST: inside, and nothing connected
    const inside = await json(`${h.service.url}/ready`);
    expect(inside.status).toBe(503);
    expect(inside.body.reasons.join(' ')).toMatch(/stopped inside the daily window/);
    // Liveness is not readiness: the process still serves.
    expect((await fetch(`${h.service.url}/health`)).status).toBe(200);
  });

  it('turns ready once every subscription streams, and not ready with the reason while Tote is away', async () => {
    h = await startHarness({ service: { now: () => new Date('2026-07-01T10:00:00Z') } });
    h.service.client.start();
    const ready = await waitFor(
      async () => {
        const r = await json(`${h!.service.url}/ready`);
        return r.status === 200 ? r : null;
      },
      { what: '/ready to answer 200' },
    );
    expect(ready.body.state).toBe('serving');

    h.sim.faults.failField('onLinesChanged', 'refused for the test');
    h.sim.faults.disconnectAll();
    const notReady = await waitFor(
      async () => {
        const r = await json(`${h!.service.url}/ready`);
        return r.status === 503 && r.body.reasons.some((x: string) => x.includes('onLinesChanged')) ? r : null;
      },
      { what: '/ready to name the refused subscription' },
    );
    expect(notReady.body.state).toBe('not-ready');
    expect(JSON.stringify(notReady.body)).toMatch(/not streaming/);
  });
});

describe('the control API', () => {
  it('lists its endpoints at /', async () => {
    h = await startHarness();
    const index = await json(`${h.service.url}/`);
    expect(index.status).toBe(200);
    const paths = index.body.endpoints.map((e: { method: string; path: string }) => `${e.method} ${e.path}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        'GET /health',
        'GET /ready',
        'GET /status',
        'GET /metrics',
        'POST /start',
        'POST /stop',
        'POST /test-pubsub',
      ]),
    );
    expect((await json(`${h.service.url}/nope`)).status).toBe(404);
  });

  it('refuses /start, /stop and /test-pubsub without the configured bearer token, and never shows the token', async () => {
    const token = 'control-token-5b1e9d2a77';
    h = await startHarness({ service: { controlToken: token } });
    for (const path of ['/start', '/stop', '/test-pubsub']) {
      const none = await fetch(`${h.service.url}${path}`, { method: 'POST' });
      expect(none.status, path).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const wrong = await fetch(`${h.service.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}x` } });
      expect(wrong.status, path).toBe(401);
    }
    expect(h.service.client.status().state).toBe('stopped');
    const ok = await fetch(`${h.service.url}/start`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(202);
    await waitFor(() => h!.service.client.status().state === 'running', { what: 'the feed to start' });
    // Reading stays open: probes and operators' curl.
    expect((await fetch(`${h.service.url}/status`)).status).toBe(200);
    expect((await fetch(`${h.service.url}/metrics`)).status).toBe(200);
    const everything = JSON.stringify(await (await fetch(`${h.service.url}/status`)).json()) + h.logs.join('\n');
    expect(everything).not.toContain(token);
  });
});

describe('/metrics', () => {
  it('carries the figures of /status under Prometheus names, with publish latency as a histogram in seconds', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 } });
    h.service.client.start();
    await waitFor(() => h!.service.status().totals.published > 50, { what: 'messages published' });
    const status = h.service.status();
    const text = await (await fetch(`${h.service.url}/metrics`)).text();
    const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
    // Counters only grow between the status read and the scrape.
    expect(sum('tote_messages_received_total')).toBeGreaterThanOrEqual(status.totals.received);
    expect(sum('tote_messages_published_total')).toBeGreaterThanOrEqual(status.totals.published);
    for (const name of [
      'tote_ready',
      'tote_connected',
      'tote_client_state',
      'tote_in_window',
      'tote_paused',
      'tote_operations',
      'tote_reconnects_total',
      'tote_frames_received_total',
      'tote_messages_in_flight',
      'tote_dead_letters_not_published_total',
      'tote_publish_backlog',
      'tote_bus_backlog',
      'tote_history_backlog',
      'tote_history_rows_stored_total',
      'tote_history_rows_spilled_total',
      'tote_history_rows_dead_lettered_total',
    ]) {
      expect(text, name).toMatch(new RegExp(`^${name}(\\{| )`, 'm'));
    }
    expect(text).toMatch(/^# TYPE tote_publish_latency_seconds histogram$/m);
    expect(text).toMatch(/^tote_publish_latency_seconds_bucket\{le="\+Inf"\} \d+$/m);
    // Precomputed percentiles in milliseconds are gone: Prometheus computes quantiles from the histogram.
    expect(text).not.toMatch(/_ms[ {]/);
  });

  it('passes promtool check metrics without warnings, on the subscriber and on the SSE service', async (ctx) => {
    const promtool = spawnSync('promtool', ['--version']);
    if (promtool.error) {
      if (process.env.CI === 'true') throw new Error('CI=true and promtool is missing (Debian package prometheus)');
      ctx.skip();
    }
    h = await startHarness({ sim: { autoplay: true, speed: 900 } });
    const sse = await startSseService({
      config: readSseConfig(new EnvReader({ PORT: '0' })),
      source: h.bus,
      host: '127.0.0.1',
      log: createLogger(),
    });
    try {
      h.service.client.start();
      await waitFor(() => h!.service.status().totals.published > 10, { what: 'messages published' });
      for (const url of [`${h.service.url}/metrics`, `${sse.url}/metrics`]) {
        const text = await (await fetch(url)).text();
        const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
        expect(r.stdout + r.stderr, url).toBe('');
        expect(r.status, url).toBe(0);
      }
    } finally {
      await sse.close();
    }
  });
});

describe('logs an operator reads', () => {
  it('writes one INFO stats line per period; the per-type figures are DEBUG lines written whatever the level', async () => {
    h = await startHarness({ sim: { autoplay: true, speed: 900 }, service: { statsIntervalMs: 100 } });
    h.service.client.start();
    await waitFor(() => h!.logs.filter((l) => l.includes('"subscriber stats"')).length >= 3, { what: 'several stats periods' });
    const lines = h.logs.map((l) => JSON.parse(l) as { severity: string; message: string });
    const typeLines = lines.filter((l) => l.message === 'subscriber type stats');
    expect(typeLines.length).toBeGreaterThan(0);
    expect(new Set(typeLines.map((l) => l.severity))).toEqual(new Set(['DEBUG']));
    expect(lines.filter((l) => l.message === 'subscriber stats').every((l) => l.severity === 'INFO')).toBe(true);
  });

  it('logs the day card at INFO when it changed, and its unchanged republishing at DEBUG', async () => {
    const logs: { severity: string; message: string; changed?: boolean }[] = [];
    setLogWriter((l) => logs.push(JSON.parse(l)));
    setLogLevel('DEBUG');
    const bus = new MemoryBus();
    let card: DayCard = { events: [], products: [], truncated: false };
    const relay = new DayCardRelay({
      publisher: bus,
      graphqlUrl: 'http://127.0.0.1:9/graphql',
      apiKey: 'k-123456789',
      resolveSecret: async (v) => v,
      refreshMs: 1_000,
      minGapMs: 0,
      active: () => true,
      log: createLogger(),
      // Tote's gateway, standing still: the same card at every refresh until it changes.
      fetchCard: async () => card,
    });
    try {
      relay.start();
      await waitFor(() => relay.status().published >= 2, { what: 'two refreshes', timeoutMs: 20_000 });
      card = { ...card, truncated: true };
      await waitFor(() => relay.status().published >= 4, { what: 'two more refreshes', timeoutMs: 20_000 });
    } finally {
      await relay.stop();
      setLogLevel('INFO');
      setLogWriter((l) => process.stdout.write(l + '\n'));
    }
    const published = logs.filter((l) => l.message === 'day card published');
    expect(published.map((l) => l.severity)).toEqual(['INFO', 'DEBUG', 'INFO', 'DEBUG']);
  });
});

describe('start-up errors name the fix', () => {
  const run = (env: Record<string, string>, script = 'src/subscriber/main.ts', as?: { uid: number; gid: number }) =>
    spawnSync(process.execPath, ['--import', 'tsx', script], {
      env: { PATH: process.env.PATH, METADATA_SERVER_DETECTION: 'none', HOME: tmpdir(), ...env },
      encoding: 'utf8',
      timeout: 45_000,
      ...(as ?? {}),
    });
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const base = { TOTE_SUBSCRIPTIONS_URL: 'ws://127.0.0.1:9/', TOTE_API_KEY: 'k-123456789', BUS: 'memory', HISTORY: 'none' };

  /** What the operator is told: the error lines (the BUS=memory notice is not one). */
  const oneLine = (r: ReturnType<typeof run>) =>
    (r.stdout + r.stderr)
      .trim()
      .split('\n')
      .filter((l) => !l.includes('"severity":"WARNING"') && !l.includes('"severity":"INFO"'));

  it('a port in use names PORT or SUBSCRIBER_PORT', async () => {
    h = await startHarness();
    const port = String(h.service.port);
    const r = run({ ...base, SUBSCRIBER_PORT: port });
    expect(r.status).toBe(2);
    const out = oneLine(r);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/already in use: set SUBSCRIBER_PORT/);
    const cloud = run({ ...base, PORT: port, K_SERVICE: 'tote-subscriber' });
    expect(cloud.status).toBe(2);
    expect(oneLine(cloud)[0]).toMatch(/already in use: set PORT/);
  });

  it('a second all-in-one with its own DUCKDB_PATH while the control port is taken says which port', async () => {
    h = await startHarness();
    const dir = mkdtempSync(join(tmpdir(), 'tote-second-'));
    dirs.push(dir);
    const r = run(
      { PORT: '0', SUBSCRIBER_PORT: String(h.service.port), DUCKDB_PATH: join(dir, 't.duckdb'), SIM_SPEED: '60' },
      'src/main.ts',
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/already in use: set SUBSCRIBER_PORT/);
    expect(r.stderr).not.toMatch(/Cannot read properties/);
  });

  it('a DUCKDB_PATH whose folder cannot exist, or cannot be written, names DUCKDB_PATH', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tote-ro-'));
    dirs.push(dir);
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'a-file'), '');
    const readOnly = join(dir, 'read-only');
    mkdirSync(readOnly, { mode: 0o555 });
    // root writes anywhere: prove the read-only case as an unprivileged user.
    const nobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
    for (const [path, as] of [
      [join(dir, 'a-file', 'sub', 't.duckdb'), undefined],
      [join(readOnly, 't.duckdb'), nobody],
    ] as const) {
      const r = run({ ...base, HISTORY: 'duckdb', DUCKDB_PATH: path, SUBSCRIBER_PORT: '0' }, 'src/subscriber/main.ts', as);
      expect(r.status, `${path}: ${r.stdout}${r.stderr}`).toBe(2);
      const out = oneLine(r);
      expect(out, path).toHaveLength(1);
      expect(out[0]).toMatch(/DUCKDB_PATH=.*point DUCKDB_PATH at a writable folder/);
    }
  });

  it('BUS=pubsub with an emulator that does not answer names PUBSUB_EMULATOR_HOST at once instead of hanging', () => {
    const r = run({ ...base, BUS: 'pubsub', PUBSUB_EMULATOR_HOST: '127.0.0.1:9', SUBSCRIBER_PORT: '0' });
    expect(r.status).toBe(2);
    const out = oneLine(r);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/PUBSUB_EMULATOR_HOST=127\.0\.0\.1:9: the Pub\/Sub emulator does not answer/);
  });

  it('BUS=pubsub without Google credentials says so in one line, without stack traces', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tote-nocreds-'));
    dirs.push(dir);
    const r = run({
      ...base,
      BUS: 'pubsub',
      GOOGLE_CLOUD_PROJECT: 'p',
      GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'missing.json'),
      SUBSCRIBER_PORT: '0',
    });
    expect(r.status).toBe(2);
    const out = oneLine(r);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/BUS=pubsub needs Google Cloud credentials/);
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a configuration error is said once', () => {
    const r = run({ ...base, SIM_SPEED: 'fast' });
    expect(r.status).toBe(2);
    expect((r.stdout + r.stderr).match(/SIM_SPEED must be a number/g)).toHaveLength(1);
  });
});
