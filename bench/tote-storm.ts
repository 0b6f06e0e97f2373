/**
 * A disconnect storm: Tote drops the socket every 2-3 s for a minute while
 * the day plays, with the production reconnect settings. Reports the share of
 * the storm the client was connected, the messages it took in, and how long
 * it needed to be connected again after the last drop.
 */
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/logger.js';
import { startSimulator } from '../src/simulator/index.js';
import { ToteClient } from '../src/tote/client.js';
import { fmt, median } from './stats.js';

const STORM_MS = Number(process.env.BENCH_STORM_MS ?? 60_000);
const KEY = 'bench-storm-key';
const log = createLogger({ component: 'bench-storm' });

interface StormResult {
  connectedShare: number;
  messages: number;
  drops: number;
  backMs: number;
}

/** Same gaps in every round and every run: a small LCG seeded by the round. */
function gaps(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 2_000 + (s % 1_000);
  };
}

async function stormRound(round: number, storm: boolean): Promise<StormResult> {
  const sim = await startSimulator({ apiKeys: [KEY], autoplay: true, speed: 300 });
  // Production settings apart from the URL and key (TOTE_RECONNECT_MIN_MS 1 s, MAX 60 s, liveness 30 s).
  const cfg = loadConfig({ TOTE_SUBSCRIPTIONS_URL: sim.wsUrl, TOTE_API_KEY: KEY, HISTORY: 'none' });
  let messages = 0;
  const client = new ToteClient({
    config: cfg.tote,
    log,
    handlers: { onMessage: () => void messages++, onBadFrame: () => undefined },
  });
  const running = () => client.status().state === 'running';
  try {
    client.start();
    while (!running()) await new Promise((r) => setTimeout(r, 20));
    const next = gaps(round + 1);
    const start = performance.now();
    let connectedMs = 0;
    let last = start;
    let drops = 0;
    let dropAt = start + next();
    messages = 0;
    while (performance.now() - start < STORM_MS) {
      await new Promise((r) => setTimeout(r, 20));
      const now = performance.now();
      if (running()) connectedMs += now - last;
      last = now;
      if (storm && now >= dropAt) {
        sim.faults.disconnectAll();
        drops++;
        dropAt = now + next();
      }
    }
    const stormMessages = messages;
    const end = performance.now();
    while (!running()) await new Promise((r) => setTimeout(r, 20));
    return { connectedShare: connectedMs / (end - start), messages: stormMessages, drops, backMs: performance.now() - end };
  } finally {
    await client.stop();
    await sim.close();
  }
}

export async function benchStorm(rounds: number): Promise<void> {
  const results: StormResult[] = [];
  const calm: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // The same stretch of the same day without drops: what the storm should have delivered.
    calm.push((await stormRound(i, false)).messages);
    results.push(await stormRound(i, true));
  }
  const delivered = median(results.map((r) => r.messages));
  console.log(`\nTote disconnect storm (a drop every 2-3 s for ${fmt(STORM_MS / 1000)} s, production backoff, ${rounds} rounds)`);
  console.log(`  drops per round:            ${results.map((r) => r.drops).join(', ')}`);
  console.log(`  connected share:            median ${(median(results.map((r) => r.connectedShare)) * 100).toFixed(0)}%`);
  console.log(
    `  messages during the storm:  median ${fmt(delivered)} (${((delivered / median(calm)) * 100).toFixed(0)}% of ${fmt(median(calm))} without drops)`,
  );
  console.log(`  connected again after it:   median ${fmt(median(results.map((r) => r.backMs)))} ms`);
}
