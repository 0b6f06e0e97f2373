/**
 * Server side of the SSE benchmark, one fresh process per measured run so
 * that its memory readings start from a clean heap (in a long-lived
 * process, pages freed by an earlier run are reused and a difference of
 * RSS says nothing per connection).
 *
 *   node --expose-gc --import tsx bench/sse-server.ts <service|bare|better-sse> <events> <ratePerSecond> <maxStreams>
 *
 * Commands on stdin, one per line, each answered by one JSON line on stdout:
 *   (at start)  {"type":"listening","url":…,"payloadBytes":…,"memory":{…}}
 *   measure     {"type":"memory","memory":{…},"peakRss":…,"connections":…}  after a full
 *               collection; peakRss is the highest RSS sampled since the last publish
 *   publish     {"type":"published","start":…,"end":…,"cpuMicros":…,"connections":…}
 *               (epoch ms of the schedule; CPU time the process used while publishing;
 *               timeline: [ms since start, open streams] once a second)
 *   heap <file> {"type":"heap","file":…}  after writing a V8 heap snapshot to <file>
 *   exit        closes the server and exits; so does the end of stdin.
 */
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { writeHeapSnapshot } from 'node:v8';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { entryForRootField } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { setLogLevel } from '../src/log/logger.js';
import { SSE_HEADERS } from '../src/sse/headers.js';
import { wireEnvelope } from '../src/sse/hub.js';
import { startSseService } from '../src/sse/index.js';
import { createChannel, createSession } from 'better-sse';

interface Target {
  readonly url: string;
  /** Streams the server holds open now. */
  connections(): number;
  publish(e: Envelope): void;
  close(): Promise<void>;
}

async function startService(maxStreams: number): Promise<Target> {
  const bus = new MemoryBus();
  const env: Record<string, string> = { PORT: '0', SSE_MAX_CONNECTIONS: String(maxStreams) };
  // The stalled-client variant may lower the per-client bound so that cuts fall inside a short run.
  if (process.env.SSE_CLIENT_MAX_BUFFER_BYTES) env.SSE_CLIENT_MAX_BUFFER_BYTES = process.env.SSE_CLIENT_MAX_BUFFER_BYTES;
  const config = loadConfig(env).sse;
  const sse = await startSseService({ config, source: bus, host: '127.0.0.1' });
  return {
    url: sse.url,
    connections: () => Number(sse.status().connections),
    publish: (e) => void bus.publish(e),
    close: async () => {
      await sse.close();
      await bus.close();
    },
  };
}

/** Any free loopback port; streams last the whole run, so no request timeout. */
async function listenOnLoopback(server: Server): Promise<string> {
  server.requestTimeout = 0;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
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
  return {
    url: await listenOnLoopback(server),
    connections: () => open.size,
    publish: (e) => {
      const frame = Buffer.from(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(wireEnvelope(e))}\n\n`);
      for (const res of open) res.write(frame);
    },
    close: () => closeServer(server),
  };
}

/**
 * better-sse 0.16.1 as its documentation sets it up: one session per
 * request, all sessions in one channel, Channel.broadcast per event with the
 * envelope id as the event id. Its own keep-alive is left at the default.
 */
async function startBetterSse(): Promise<Target> {
  const channel = createChannel();
  const server = createServer((req, res) => {
    if (req.url !== '/events') {
      res.writeHead(404).end();
      return;
    }
    createSession(req, res).then(
      (session) => channel.register(session),
      () => res.destroy(),
    );
  });
  return {
    url: await listenOnLoopback(server),
    connections: () => channel.sessionCount,
    publish: (e) => void channel.broadcast(wireEnvelope(e), e.type, { eventId: e.id }),
    close: () => closeServer(server),
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
const starters = { service: startService, bare: startBare, 'better-sse': startBetterSse } as const;
if (!(kind in starters)) throw new Error(`server kind must be one of ${Object.keys(starters).join(', ')}, got "${kind}"`);
setLogLevel('ERROR');
const target = await starters[kind as keyof typeof starters](Number(maxStreamsArg));
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
  if (line === 'measure') say({ type: 'memory', memory: await settledMemory(), peakRss, connections: target.connections() });
  else if (line === 'publish') {
    peakRss = process.memoryUsage.rss();
    const cpu0 = process.cpuUsage();
    // Open streams once a second while publishing: when stalled clients were cut shows in this.
    const timeline: [number, number][] = [];
    const t0 = Date.now();
    const counter = setInterval(() => timeline.push([Date.now() - t0, target.connections()]), 1000);
    const schedule = await publishOnSchedule(target, Number(eventsArg), Number(rateArg));
    clearInterval(counter);
    const cpu = process.cpuUsage(cpu0);
    say({ type: 'published', ...schedule, cpuMicros: cpu.user + cpu.system, connections: target.connections(), timeline });
  } else if (line.startsWith('heap ')) {
    // A heap snapshot for finding what each stream holds (see docs/benchmarks.md).
    say({ type: 'heap', file: writeHeapSnapshot(line.slice(5)) });
  } else if (line === 'exit') await exit();
}
