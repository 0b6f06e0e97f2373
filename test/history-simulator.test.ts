import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { loadConfig } from '../src/config/index.js';
import { DuckDbStore } from '../src/history/duckdb/duckdb-store.js';
import { createHistorySink, type BatchingHistoryStatus } from '../src/history/index.js';
import { loadQuery } from '../src/history/sql-files.js';
import { createLogger, setLogLevel } from '../src/log/logger.js';
import { startSimulator } from '../src/simulator/index.js';
import { startSubscriberService } from '../src/subscriber/service.js';
import { waitFor } from './helpers/ports.js';

/**
 * What `npm start` does for history, with the real parts: the simulator's
 * racing day over a real socket, the subscriber, and the DuckDB history file.
 * The queries must answer from what the simulator actually sent.
 */
const dir = mkdtempSync(join(tmpdir(), 'tote-histsim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('history of a simulated racing day', () => {
  it('fills the DuckDB file; each product ends at the last pool total the simulator sent for it', async () => {
    setLogLevel('ERROR');
    const key = 'history-test-key';
    // About 40 simulated minutes per real second: a few races close within the test.
    const sim = await startSimulator({ apiKeys: [key], seed: 7, speed: 2400, host: '127.0.0.1' });
    const config = loadConfig({ DUCKDB_PATH: join(dir, 'tote.duckdb'), HISTORY_SPILL: 'none', HISTORY_BATCH_MAX_DELAY_MS: '50' });
    const history = createHistorySink(config.history);
    const bus = new MemoryBus();
    // The subscriber's selection set narrows the payload: compare what both sides have.
    const totalOf = (p: Record<string, unknown> | undefined) =>
      p ? JSON.stringify([p.isFinalized, (p.total as { grossAmounts: unknown[]; netAmounts: unknown[] }).grossAmounts, (p.total as { netAmounts: unknown[] }).netAmounts]) : undefined;
    const lastSeen = new Map<string, string | undefined>();
    bus.subscribe((e) => e.type === 'PoolTotalChanged' && lastSeen.set(e.keys.productId!, totalOf(e.payload)));
    const svc = await startSubscriberService({
      tote: config.tote,
      subscriber: { ...config.subscriber, autoStart: false },
      publisher: bus,
      history,
      log: createLogger({ test: 'history-simulator' }),
      port: 0,
      host: '127.0.0.1',
      url: sim.wsUrl,
      apiKey: key,
      source: 'simulator',
    });
    let closedProducts: string[] = [];
    try {
      svc.client.start();
      await waitFor(
        () => {
          closedProducts = sim.plan().products.map((p) => p.id).filter((id) => {
            const last = sim.lastSent('onPoolTotalChanged', id);
            return last?.isFinalized === true;
          });
          return closedProducts.length >= 3;
        },
        { timeoutMs: 20_000, what: 'three products with a finalized pool total' },
      );
      // Stop the day, and let what is already on the wire arrive before stopping the socket.
      sim.pause();
      await waitFor(
        () => closedProducts.every((id) => lastSeen.get(id) === totalOf(sim.lastSent('onPoolTotalChanged', id))),
        { timeoutMs: 10_000, what: 'the last pool totals to reach the subscriber' },
      );
    } finally {
      await svc.stopAndFlush();
      sim.pause();
      await svc.close();
      await history.close();
      await sim.close();
    }
    const st = history.status() as BatchingHistoryStatus;
    expect(st.backlog).toBe(0);
    expect(st.lost).toBe(0);

    const store = await DuckDbStore.open(config.history.duckdbPath, { readOnly: true });
    try {
      const [count] = await store.query('SELECT COUNT(*) AS n FROM tote_messages');
      expect(count!.n).toBe(st.stored);
      const totals = await store.query(loadQuery('final_pool_totals')!.duckdb);
      expect(totals.length).toBeGreaterThanOrEqual(3);
      for (const productId of closedProducts) {
        const sent = sim.lastSent('onPoolTotalChanged', productId) as { total: { grossAmounts: { decimalAmount: number }[]; netAmounts: { decimalAmount: number }[] } };
        const row = totals.find((t) => t.product_id === productId);
        expect(row, productId).toBeDefined();
        expect(row!.is_finalized).toBe(true);
        expect(row!.gross_amount).toBe(sent.total.grossAmounts[0]!.decimalAmount);
        expect(row!.net_amount).toBe(sent.total.netAmounts[0]!.decimalAmount);
      }
      // Every documented query answers from the simulator's data.
      for (const name of ['pool_growth_to_off', 'last_total_before_close_vs_final', 'close_to_final_dividend', 'message_rate_per_minute', 'bet_lifecycle_latencies', 'bet_lifecycle_summary', 'feed_gaps']) {
        await expect(store.query(loadQuery(name)!.duckdb), name).resolves.toBeDefined();
      }
      const growth = await store.query(loadQuery('pool_growth_to_off')!.duckdb);
      expect(growth.some((g) => closedProducts.includes(g.product_id as string))).toBe(true);
    } finally {
      store.close();
    }
  });
});
