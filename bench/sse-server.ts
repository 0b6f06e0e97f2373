/**
 * Server side of the SSE benchmark, one fresh process per measured run so
 * that its memory readings start from a clean heap (in a long-lived
 * process, pages freed by an earlier run are reused and a difference of
 * RSS says nothing per connection).
 *
 *   node --expose-gc --import tsx bench/sse-server.ts <service|bare> <events> <ratePerSecond> <maxStreams>
 *
 * Commands on stdin, one per line, each answered by one JSON line on stdout:
 *   (at start)  {"type":"listening","url":…,"payloadBytes":…,"memory":{…}}
 *   measure     {"type":"memory","memory":{…},"peakRss":…}  after a full collection;
 *               peakRss is the highest RSS sampled since the last publish
 *   publish     {"type":"published","start":…,"end":…}  (epoch ms of the schedule)
 *   exit        closes the server and exits; so does the end of stdin.
 */
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { entryForRootField } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { setLogLevel } from '../src/log/logger.js';
import { SSE_HEADERS } from '../src/sse/headers.js';
import { wireEnvelope } from '../src/sse/hub.js';
import { startSseService } from '../src/sse/index.js';

interface Target {
  readonly url: string;
  publish(e: Envelope): void;
  close(): Promise<void>;
}

async function startService(maxStreams: number): Promise<Target> {
  const bus = new MemoryBus();
  const config = loadConfig({ PORT: '0', SSE_MAX_CONNECTIONS: String(maxStreams) }).sse;
  const sse = await startSseService({ config, source: bus, host: '127.0.0.1' });
  return {
    url: sse.url,
    publish: (e) => void bus.publish(e),
    close: async () => {
      await sse.close();
      await bus.close();
    },
  };
}

/** The floor: no filter, history, per-client bound or batching; one write of one shared buffer per stream. */
async function startBare(): Promise<Target> {
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    if (req.url !== '/events') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, SSE_HEADERS);
    res.flushHeaders();
    open.add(res);
    res.on('close', () => open.delete(res));
  });
  server.requestTimeout = 0;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    publish: (e) => {
      const frame = Buffer.from(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(wireEnvelope(e))}\n\n`);
      for (const res of open) res.write(frame);
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

const POOL_TOTAL = entryForRootField('onPoolTotalChanged')!;
const ORIGIN = { source: 'bench', protocol: 'graphql-ws' as const, connectionId: 'bench', instanceId: 'bench' };

/** A PoolTotalChanged envelope whose payload is about 600 bytes of JSON, the size of a real one with its fund. */
function poolTotal(i: number): Envelope {
  const money = (v: number) => ({ decimalAmount: v, currency: { code: 'GBP' } });
  const amounts = (gross: number) => ({ grossAmounts: [money(gross)], netAmounts: [money(Math.round(gross * 74) / 100)] });
  const productId = `9b1c0d1e-0000-4000-8000-${String(i % 200).padStart(12, '0')}`;
  const payload = {
    productId,
    isFinalized: false,
    total: amounts(6645.4 + i),
    carryIn: amounts(0),
    guarantee: null,
    takeout: { percentage: 26 },
    funds: [{ poolFundType: 'WIN', percentage: 100, total: amounts(6645.4 + i) }],
  };
  return makeEnvelope(POOL_TOTAL, payload, { productId }, ORIGIN);
}

/** Publishes `events` envelopes at `rate` per second, catching up at once when a timer fires late. */
async function publishOnSchedule(target: Target, events: number, rate: number): Promise<{ start: number; end: number }> {
  const interval = 1000 / rate;
  const start = Date.now();
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(events, Math.floor((Date.now() - start) / interval) + 1);
      while (i < due) target.publish(poolTotal(i++));
      if (i >= events) resolve();
      else setTimeout(tick, Math.max(0, start + i * interval - Date.now()));
    };
    tick();
  });
  return { start, end: start + events * interval };
}

async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  const gc = globalThis.gc;
  if (!gc) throw new Error('run with --expose-gc: memory readings need a full collection first');
  gc();
  await new Promise((r) => setTimeout(r, 200));
  gc();
  return process.memoryUsage();
}

const [kind = '', eventsArg = '80', rateArg = '20', maxStreamsArg = '19000'] = process.argv.slice(2);
if (kind !== 'service' && kind !== 'bare') throw new Error(`server kind must be service or bare, got "${kind}"`);
setLogLevel('ERROR');
const target = kind === 'service' ? await startService(Number(maxStreamsArg)) : await startBare();
const say = (msg: Record<string, unknown>) => process.stdout.write(JSON.stringify(msg) + '\n');
let closing = false;
const exit = async () => {
  if (closing) return;
  closing = true;
  await target.close();
  process.exit(0);
};
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
sampler.unref();

const payloadBytes = JSON.stringify(poolTotal(0).payload).length;
say({ type: 'listening', url: target.url, payloadBytes, memory: await settledMemory() });
const lines = createInterface({ input: process.stdin });
lines.on('close', () => void exit());
for await (const line of lines) {
  if (line === 'measure') say({ type: 'memory', memory: await settledMemory(), peakRss });
  else if (line === 'publish') {
    peakRss = process.memoryUsage.rss();
    say({ type: 'published', ...(await publishOnSchedule(target, Number(eventsArg), Number(rateArg))) });
  } else if (line === 'exit') await exit();
}
