/**
 * `npm run bench`: throughput figures measured in one run on this machine,
 * reported as medians of several rounds and as ratios between variants
 * measured side by side (absolute numbers on a shared 2-core machine vary;
 * the ratios are what to compare between commits).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import WebSocket from 'ws';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import { CATALOG, bundledDocument, entryForRootField } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { makeEnvelope } from '../src/envelope/envelope.js';
import { createHistorySink } from '../src/history/index.js';
import { createLogger, setLogLevel } from '../src/log/logger.js';
import { Ingest } from '../src/subscriber/ingest.js';
import { ToteClient } from '../src/tote/client.js';
import { gcloudAvailable, startPubsubEmulator } from '../test/helpers/pubsub-emulator.js';
import { fmt, median } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const FRAMES = Number(process.env.BENCH_FRAMES ?? 40_000);
const PUBLISH_MESSAGES = Number(process.env.BENCH_PUBLISH_MESSAGES ?? 10_000);

setLogLevel('ERROR');
// Off Google Cloud the auth library probes the metadata server and warns; the emulator needs no credentials.
process.env.METADATA_SERVER_DETECTION ??= 'none';
const log = createLogger({ component: 'bench' });


async function startSender(frames: number): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/frame-sender.ts', String(frames)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const { port } = JSON.parse(line.toString().split('\n')[0]!);
  return { url: `ws://127.0.0.1:${port}/`, child };
}

/** Baseline: a bare ws client that only JSON.parses each frame. */
async function rawParseRate(url: string, frames: number): Promise<number> {
  const ws = new WebSocket(url, 'graphql-ws', { perMessageDeflate: false });
  let n = 0;
  let t0 = 0;
  const done = new Promise<number>((resolve) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.type !== 'data') return;
      if (n === 0) t0 = performance.now();
      if (++n === frames) resolve(performance.now() - t0);
    });
  });
  await once(ws, 'open');
  ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  CATALOG.forEach((e, i) => ws.send(JSON.stringify({ id: String(i + 1), type: 'start', payload: { query: bundledDocument(e) } })));
  const ms = await done;
  ws.terminate();
  return (frames / ms) * 1000;
}

/** The real path: ToteClient -> Ingest (envelope, keys, accounting) -> in-process bus. */
async function pipelineRate(url: string, frames: number): Promise<number> {
  const cfg = loadConfig({ TOTE_SUBSCRIPTIONS_URL: url, TOTE_API_KEY: 'bench-key', TOTE_INTROSPECT: 'false', HISTORY: 'none', TOTE_PROTOCOL: 'graphql-ws' });
  const bus = new MemoryBus();
  let n = 0;
  let t0 = 0;
  let resolve!: (ms: number) => void;
  const done = new Promise<number>((r) => (resolve = r));
  bus.subscribe(() => {
    if (n === 0) t0 = performance.now();
    if (++n === frames) resolve(performance.now() - t0);
  });
  const ingest = new Ingest({ publisher: bus, history: createHistorySink(cfg.history), log, instanceId: 'bench', source: 'bench' });
  const client = new ToteClient({
    config: cfg.tote,
    log,
    handlers: {
      onMessage: (e, p, raw, m) => ingest.handleMessage(e, p, raw, m),
      onBadFrame: (r, d, raw, m, e) => ingest.handleBadFrame(r, d, raw, m, e),
    },
  });
  client.start();
  const ms = await done;
  await client.stop();
  return (frames / ms) * 1000;
}

async function benchIngest() {
  const raw: number[] = [];
  const full: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const [list, fn] of [
      [raw, rawParseRate],
      [full, pipelineRate],
    ] as const) {
      const sender = await startSender(FRAMES);
      list.push(await fn(sender.url, FRAMES));
      sender.child.kill();
    }
  }
  const r = median(raw);
  const f = median(full);
  console.log(`\nIngest (legacy frames from a separate process, ${fmt(FRAMES)} frames x ${ROUNDS} rounds)`);
  console.log(`  bare ws + JSON.parse:              median ${fmt(r)} frames/s`);
  console.log(`  client + envelope + in-process bus: median ${fmt(f)} frames/s`);
  console.log(`  ratio pipeline / bare parse:        ${(f / r).toFixed(2)}`);
}

async function benchPublish() {
  const missing = gcloudAvailable();
  if (missing) {
    console.log(`\nPub/Sub publish: skipped (${missing})`);
    return;
  }
  const emulator = await startPubsubEmulator('bench');
  try {
    const entry = entryForRootField('onPoolTotalChanged')!;
    const origin = { source: 'bench', protocol: 'graphql-ws' as const, connectionId: 'c', instanceId: 'i' };
    const rates: Record<string, number[]> = { unordered: [], ordered: [] };
    for (let i = 0; i < Math.min(ROUNDS, 3); i++) {
      for (const ordering of [false, true]) {
        const cfg = loadConfig({ BUS: 'pubsub', PUBSUB_EMULATOR_HOST: emulator.host, GOOGLE_CLOUD_PROJECT: 'bench', PUBSUB_ORDERING: String(ordering) });
        const pub = new PubSubPublisher(cfg.bus, log);
        await pub.connect();
        const envelopes = Array.from({ length: PUBLISH_MESSAGES }, (_, k) => {
          const productId = `p-${k % 200}`;
          return makeEnvelope(entry, { productId, isFinalized: false, total: { grossAmounts: [{ decimalAmount: k, currency: { code: 'GBP' } }] } }, { productId }, origin);
        });
        const t0 = performance.now();
        await Promise.all(envelopes.map((e) => pub.publish(e)));
        const ms = performance.now() - t0;
        rates[ordering ? 'ordered' : 'unordered']!.push((PUBLISH_MESSAGES / ms) * 1000);
        const lat = pub.publishLatency();
        if (i === 0) console.log(`  (${ordering ? 'ordered' : 'unordered'} round 1 publish latency p50 ${lat.p50Ms} ms, p99 ${lat.p99Ms} ms)`);
        await pub.close();
      }
    }
    const u = median(rates.unordered!);
    const o = median(rates.ordered!);
    console.log(`\nPub/Sub publish to the emulator (${fmt(PUBLISH_MESSAGES)} envelopes, 200 ordering keys)`);
    console.log(`  without ordering keys: median ${fmt(u)} msg/s`);
    console.log(`  with ordering keys:    median ${fmt(o)} msg/s`);
    console.log(`  ratio ordered / unordered: ${(o / u).toFixed(2)}`);
  } finally {
    await emulator.stop();
  }
}

const only = process.argv[2];
console.log(`Benchmarks on ${process.platform} ${process.arch}, node ${process.version}; rounds ${ROUNDS}`);
if (!only || only === 'ingest') await benchIngest();
if (!only || only === 'publish') await benchPublish();
if (!only || only === 'sse') {
  await (await import('./sse.js')).benchSse({
    rounds: Math.min(ROUNDS, 3),
    clients: (process.env.BENCH_SSE_CLIENTS ?? '1000,5000').split(',').map(Number),
    rate: Number(process.env.BENCH_SSE_RATE ?? 10),
    seconds: Number(process.env.BENCH_SSE_SECONDS ?? 8),
    kinds: process.env.BENCH_SSE_KINDS ? (process.env.BENCH_SSE_KINDS.split(',') as never) : undefined,
    cpuProfileDir: process.env.BENCH_SSE_CPU_PROF,
  });
}
