import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG } from '../src/catalog/catalog.js';
import { startLocalPipeline, type LocalPipeline } from '../src/main.js';
import { startSimulator } from '../src/simulator/index.js';
import { freePort, waitFor } from './helpers/ports.js';

describe('npm start: the local all-in-one', () => {
  let p: LocalPipeline;
  const seen = new Set<string>();
  let controller: AbortController;

  beforeAll(async () => {
    p = await startLocalPipeline({
      env: {
        PORT: '0',
        SUBSCRIBER_PORT: '0',
        SIM_SPEED: '900',
        HISTORY: 'duckdb',
        DUCKDB_PATH: join(mkdtempSync(join(tmpdir(), 'tote-local-')), 'tote.duckdb'),
      },
      host: '127.0.0.1',
    });
    controller = new AbortController();
    const res = await fetch(`${p.sseUrl}/events`, { signal: controller.signal });
    void (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const event = /^event: (.+)$/m.exec(frame)?.[1];
            if (event) seen.add(event);
          }
        }
      } catch {
        /* aborted at teardown */
      }
    })();
  });

  afterAll(async () => {
    controller?.abort();
    await p?.close();
  });

  it('streams every simulator message type on the SSE stream and counts them in the subscriber /status', async () => {
    await waitFor(() => CATALOG.every((e) => seen.has(e.messageType)), {
      timeoutMs: 45_000,
      what: () =>
        'every type on /events; missing ' +
        CATALOG.filter((e) => !seen.has(e.messageType))
          .map((e) => e.messageType)
          .join(','),
    });
    const status = await (await fetch(`${p.subscriberUrl}/status`)).json();
    expect(status.state).toBe('running');
    for (const e of CATALOG) expect(status.types[e.messageType].received).toBeGreaterThan(0);
    expect(status.history.sink).toBe('duckdb');
  });
});

describe('the subscriber process', () => {
  it('stops, flushes and exits cleanly on SIGTERM within Cloud Run’s 10 s grace', async () => {
    const sim = await startSimulator({ apiKeys: ['proc-key-123456'], speed: 900 });
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/subscriber/main.ts'], {
        env: {
          PATH: process.env.PATH,
          TOTE_SUBSCRIPTIONS_URL: sim.wsUrl,
          TOTE_API_KEY: 'proc-key-123456',
          BUS: 'memory',
          HISTORY: 'none',
          PORT: '0',
          // Inside the window at any hour, so the service connects at boot as it does in the cloud.
          SUBSCRIBER_WINDOW_START: '00:00',
          SUBSCRIBER_WINDOW_END: '00:00',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const lines: string[] = [];
      child.stdout.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter(Boolean)));
      child.stderr.on('data', (b: Buffer) => lines.push(b.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      await waitFor(() => lines.some((l) => l.includes('"tote connected"')), {
        timeoutMs: 30_000,
        what: () => 'connected: ' + lines.join('\n'),
      });
      await waitFor(() => sim.connections() === 1, { what: 'one socket' });
      const t0 = Date.now();
      child.kill('SIGTERM');
      const code = await exited;
      const took = Date.now() - t0;
      expect(code).toBe(0);
      expect(took).toBeLessThan(10_000);
      expect(lines.some((l) => l.includes('"shut down cleanly"'))).toBe(true);
      await waitFor(() => sim.connections() === 0, { what: 'socket closed' });
      expect(lines.join('\n')).not.toContain('proc-key-123456');
    } finally {
      await sim.close();
    }
  });
});

describe('SIGTERM while BigQuery is failing', () => {
  it('spills the history buffer within the grace instead of losing it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tote-spill-'));
    const spill = join(dir, 'spill.jsonl');
    const sim = await startSimulator({ apiKeys: ['proc-key-123456'], speed: 900 });
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/subscriber/main.ts'], {
        env: {
          PATH: process.env.PATH,
          METADATA_SERVER_DETECTION: 'none',
          // BigQuery is out: its endpoint refuses every connection.
          BQ_API_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
          TOTE_SUBSCRIPTIONS_URL: sim.wsUrl,
          TOTE_API_KEY: 'proc-key-123456',
          BUS: 'memory',
          HISTORY: 'bigquery',
          BQ_PROJECT: 'p',
          BQ_DATASET: 'd',
          HISTORY_SPILL: 'file',
          HISTORY_SPILL_FILE: spill,
          PORT: '0',
          SUBSCRIBER_WINDOW_START: '00:00',
          SUBSCRIBER_WINDOW_END: '00:00',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const lines: string[] = [];
      let buf = '';
      child.stdout.on('data', (b: Buffer) => {
        buf += b.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        lines.push(...parts);
      });
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      const port = await waitFor(
        () => {
          const l = lines.find((x) => x.includes('"subscriber listening"'));
          return l ? (JSON.parse(l).port as number) : null;
        },
        { timeoutMs: 30_000, what: 'the service to listen' },
      );
      const before = await waitFor(
        async () => {
          const s = await (await fetch(`http://127.0.0.1:${port}/status`)).json();
          return s.history.backlog > 100 && s.history.lastError ? s : null;
        },
        { timeoutMs: 30_000, what: 'a history backlog with an insert error' },
      );
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const spilled = existsSync(spill) ? readFileSync(spill, 'utf8').trim().split('\n').filter(Boolean).length : 0;
      // Everything the subscriber had received and not stored is in the spill (it may have received a few more after the status read).
      expect(spilled).toBeGreaterThanOrEqual(before.history.backlog);
      expect(lines.some((l) => l.includes('"shut down cleanly"'))).toBe(true);
    } finally {
      await sim.close();
    }
  });
});
