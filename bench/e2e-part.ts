/**
 * One deployed part of the end-to-end benchmark through Pub/Sub, in its own
 * process, as the two Cloud Run services run in production:
 *
 *   node --import tsx bench/e2e-part.ts subscriber <tote-url>   Tote client -> Ingest -> publisher
 *   node --import tsx bench/e2e-part.ts sse                      consumer -> hub -> HTTP on a free port
 *
 * Bus settings (BUS, PUBSUB_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT, ...) come
 * from the environment, read by the typed config like the services' own
 * entry points. Commands on stdin, one per line, each answered by one JSON
 * line on stdout:
 *   (at start)  {"type":"ready",…}  the sse part adds its "url"; the subscriber
 *               part has connected to the Tote stand-in and is reading
 *   status      {"type":"status","cpuMicros":…,"loopDelayMaxMs":…,…}  this process's CPU
 *               time and the longest event-loop delay since the last status; the subscriber part: published,
 *               dead-lettered and in-flight counts and its publish latency; the
 *               sse part: the SSE service's /status
 *   exit        closes what the part opened and exits; so does the end of stdin.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import { loadConfig } from '../src/config/index.js';
import { PubSubConsumer } from '../src/consumer/index.js';
import { createHistorySink } from '../src/history/index.js';
import { createLogger, setLogLevel } from '../src/log/logger.js';
import { startSseService } from '../src/sse/index.js';
import { runPipeline } from './pipeline.js';

setLogLevel('ERROR');
const log = createLogger({ component: 'bench' });
const [role = '', toteUrl = ''] = process.argv.slice(2);
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const say = (msg: Record<string, unknown>) => process.stdout.write(JSON.stringify(msg) + '\n');
const cpuMicros = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

interface Part {
  readonly ready: Record<string, unknown>;
  status(): Record<string, unknown>;
  close(): Promise<void>;
}

async function subscriber(): Promise<Part> {
  if (!toteUrl) throw new Error('the subscriber part needs the Tote stand-in url');
  const cfg = loadConfig({ ...process.env, TOTE_SUBSCRIPTIONS_URL: toteUrl, HISTORY: 'none' });
  if (cfg.bus.kind !== 'pubsub') throw new Error('the subscriber part needs BUS=pubsub');
  const publisher = new PubSubPublisher(cfg.bus, log);
  await publisher.connect();
  const history = createHistorySink(cfg.history);
  const p = runPipeline(cfg, publisher, history);
  return {
    ready: {},
    status: () => ({ ...p.ingest.stats().totals, publishLatency: publisher.publishLatency() }),
    close: async () => {
      await p.stop();
      await publisher.close();
      await history.close();
    },
  };
}

async function sse(): Promise<Part> {
  const cfg = loadConfig({ ...process.env, PORT: '0' });
  if (cfg.bus.kind !== 'pubsub') throw new Error('the sse part needs BUS=pubsub');
  const consumer = new PubSubConsumer({ config: cfg.bus, sse: cfg.sse, log });
  await consumer.start();
  const service = await startSseService({ config: cfg.sse, source: consumer, host: '127.0.0.1', log });
  return {
    ready: { url: service.url },
    status: () => ({ sse: service.status() }),
    close: async () => {
      await service.close();
      await consumer.close();
    },
  };
}

const parts = { subscriber, sse } as const;
if (!(role in parts)) throw new Error(`part must be one of ${Object.keys(parts).join(', ')}, got "${role}"`);
const part = await parts[role as keyof typeof parts]();
let closing = false;
const exit = async () => {
  if (closing) return;
  closing = true;
  await part.close().catch((err: unknown) => log.error('closing the part failed', { err: String(err) }));
  // Client libraries (gRPC channels) can hold the loop open after their close().
  process.exit(0);
};
say({ type: 'ready', ...part.ready });
const lines = createInterface({ input: process.stdin });
lines.on('close', () => void exit());
for await (const line of lines) {
  if (line === 'status') {
    say({ type: 'status', cpuMicros: cpuMicros(), loopDelayMaxMs: Math.round(loop.max / 1e6), ...part.status() });
    loop.reset();
  } else if (line === 'exit') await exit();
}
