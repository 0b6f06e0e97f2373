import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../src/history/duckdb/duckdb-store.js';
import { setLogWriter } from '../src/log/logger.js';
import { startLocalPipeline, type LocalPipeline } from '../src/main.js';
import { waitFor } from './helpers/ports.js';
import { SseStream } from './helpers/sse-stream.js';

/**
 * Runs the whole local pipeline with a recognisable key, makes the simulator
 * echo the key back in every place a Tote frame can carry text (a message
 * field, a malformed frame, an operation error), and searches every output a
 * person or a store sees for it.
 */
describe('the Tote API key never leaves the subscriber', () => {
  const KEY = 'LeakProbe-Key-3c1f9b7e2d';
  const dir = mkdtempSync(join(tmpdir(), 'tote-leak-'));
  const logs: string[] = [];
  let p: LocalPipeline | undefined;
  afterAll(async () => {
    await p?.close();
    setLogWriter((l) => process.stdout.write(l + '\n'));
    rmSync(dir, { recursive: true, force: true });
  });

  it('not in logs, /status, /metrics, dead letters, history, /snapshot or the SSE stream', async () => {
    setLogWriter((l) => logs.push(l));
    p = await startLocalPipeline({
      env: {
        PORT: '0',
        SUBSCRIBER_PORT: '0',
        SIM_SPEED: '900',
        SIM_API_KEY: KEY,
        HISTORY: 'duckdb',
        DUCKDB_PATH: join(dir, 'h.duckdb'),
        LOG_LEVEL: 'DEBUG',
      },
      host: '127.0.0.1',
    });
    const stream = await SseStream.open(`${p.sseUrl}/events`);
    const sim = p.simulator!;
    await waitFor(() => p!.subscriber.status().state === 'running' && p!.subscriber.status().totals.published > 20, {
      what: 'the feed running',
    });

    // Echoes: inside a valid message, in a frame that is not JSON, in an operation's error.
    const product = sim.plan().products[0]!.id;
    await waitFor(() => p!.subscriber.status().operations.onProductStatusChanged?.state === 'active', {
      what: 'product statuses streaming',
    });
    const before = p.subscriber.status().types.ProductStatusChanged?.received ?? 0;
    expect(sim.emit('onProductStatusChanged', { productId: product, status: `OPEN Api-Key ${KEY}`, note: KEY })).toBeGreaterThan(0);
    await waitFor(() => (p!.subscriber.status().types.ProductStatusChanged?.received ?? 0) > before, {
      what: 'the echoing message received',
    });
    sim.faults.sendRaw(`{"type":"data","id":"x","payload":"Api-Key ${KEY}"`);
    sim.faults.sendRaw(`not json at all, key=${KEY}`);
    sim.faults.failField('onLinesChanged', `unauthorised: Api-Key ${KEY}`);
    sim.faults.disconnectAll();
    await waitFor(() => p!.subscriber.status().operations.onLinesChanged?.lastError?.includes('unauthorised'), {
      what: 'the refused operation',
      timeoutMs: 20_000,
    });
    await waitFor(() => p!.subscriber.status().totals.deadLettered >= 2, { what: 'the malformed frames dead-lettered' });
    sim.faults.failField('onLinesChanged', null);
    await waitFor(() => p!.subscriber.status().totals.inFlight === 0, { what: 'everything settled' });

    const outputs: Record<string, string> = {
      status: await (await fetch(`${p.subscriberUrl}/status`)).text(),
      metrics: await (await fetch(`${p.subscriberUrl}/metrics`)).text(),
      sseStatus: await (await fetch(`${p.sseUrl}/status`)).text(),
      snapshot: await (await fetch(`${p.sseUrl}/snapshot`)).text(),
      deadLetters: JSON.stringify(p.bus!.recentDeadLetters()),
      sse: stream.raw,
    };
    stream.close();
    await p.close();
    p = undefined;
    outputs.logs = logs.join('\n');
    const store = await DuckDbStore.open(join(dir, 'h.duckdb'), { readOnly: true });
    try {
      const tables = await store.query(
        `select table_name from information_schema.tables where table_schema = 'main' and table_type = 'BASE TABLE'`,
      );
      expect(tables.length).toBeGreaterThan(0);
      for (const t of tables) {
        const name = String((t as Record<string, unknown>).table_name);
        outputs[`history.${name}`] = JSON.stringify(await store.query(`select * from "${name}"`), (_k, v) =>
          typeof v === 'bigint' ? String(v) : v,
        );
      }
    } finally {
      store.close();
    }
    // The echoes did arrive: the redacted marker stands where the key was.
    expect(`${outputs.deadLetters}${outputs['history.tote_dead_letters']}`).toContain('[redacted]');
    expect(outputs.sse).toContain('[redacted]');
    expect(outputs['history.tote_messages']).toContain('[redacted]');
    for (const [where, text] of Object.entries(outputs)) expect(text.includes(KEY), `the key appears in ${where}`).toBe(false);
  });
});
