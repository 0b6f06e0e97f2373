/**
 * `npm run bench -- sse`: fan-out of the SSE service (startSseService fed by
 * a MemoryBus) against a bare node:http server that writes one
 * pre-serialized buffer to every open response, with the same clients and
 * the same publish schedule, side by side in one run.
 *
 * Each measured run is two fresh processes on loopback: the server with its
 * publisher (bench/sse-server.ts) and the clients (bench/sse-client.ts).
 * The run connects the clients, reads the server's memory with every stream
 * idle, publishes BENCH_SSE_EVENTS envelopes at BENCH_SSE_RATE per second,
 * then reads the clients' counts and lags. Both processes are ended (and
 * killed if they do not go) before the next run starts.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fmt, median } from './stats.js';

const CLIENTS = (process.env.BENCH_SSE_CLIENTS ?? '1000,5000').split(',').map(Number);
const RATE = Number(process.env.BENCH_SSE_RATE ?? 20);
const EVENTS = Number(process.env.BENCH_SSE_EVENTS ?? 4 * RATE);
/** How long the clients wait for late events once publishing is done; a server this far behind has collapsed. */
const GRACE_MS = 5_000;
/** The per-process open-file limit is 20,000 (measured here); keep room for the rest of either process. */
const MAX_STREAMS = 19_000;
const script = (name: string) => fileURLToPath(new URL(name, import.meta.url));

type Kind = 'bare' | 'service';
type Line = Record<string, unknown>;

/** A child speaking JSON lines on stdout; each wait fails rather than hangs if the child dies or stalls. */
function startChild(args: string[], label: string) {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (what: string, timeoutMs: number): Promise<Line> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label}: no "${what}" line within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const line = await Promise.race([lines.next(), timeout]);
      if (line.done) throw new Error(`${label} exited before its "${what}" line (exit code ${child.exitCode})`);
      const msg = JSON.parse(line.value) as Line;
      if (msg.type !== what) throw new Error(`${label}: expected "${what}", got ${line.value}`);
      return msg;
    } finally {
      clearTimeout(timer);
    }
  };
  const send = (command: string) => child.stdin!.write(command + '\n');
  /** Waits for the exit; a child still there after `graceMs` is killed. */
  const stop = async (graceMs: number) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { next, send, stop };
}

const rss = (m: Line) => Number((m.memory as NodeJS.MemoryUsage).rss);
const heap = (m: Line) => {
  const u = m.memory as NodeJS.MemoryUsage;
  return u.heapUsed + u.external;
};

interface RunResult {
  open: number;
  deliveriesPerS: number;
  demandedPerS: number;
  missed: number;
  closedEarly: number;
  lagP50Ms: number;
  lagP99Ms: number;
  idleRssPerConnKb: number;
  idleHeapPerConnKb: number;
  loadRssGrowthMb: number;
  /** Heap and buffers still held once every client has gone, against the empty server: a leak check (RSS is not, the allocator keeps freed pages). */
  leftHeapMb: number;
}

let payloadBytes = 0;

async function runOnce(kind: Kind, clients: number): Promise<RunResult> {
  const server = startChild(['--expose-gc', '--import', 'tsx', script('./sse-server.ts'), kind, String(EVENTS), String(RATE), String(MAX_STREAMS)], `${kind} server`);
  let client: ReturnType<typeof startChild> | undefined;
  try {
    const listening = await server.next('listening', 30_000);
    payloadBytes = Number(listening.payloadBytes);
    client = startChild(['--import', 'tsx', script('./sse-client.ts'), String(listening.url), String(clients), String(EVENTS), String(GRACE_MS)], 'sse client');
    const open = Number((await client.next('ready', 60_000)).open);
    if (open === 0) throw new Error(`sse client opened no stream on the ${kind} server`);
    server.send('measure');
    const idle = await server.next('memory', 30_000);
    server.send('publish');
    const schedule = await server.next('published', (EVENTS / RATE) * 1000 + 30_000);
    client.send('stop');
    const r = await client.next('result', GRACE_MS + 30_000);
    await client.stop(5_000);
    server.send('measure');
    const after = await server.next('memory', 30_000);
    const received = Number(r.events);
    const windowMs = Math.max(Number(schedule.end), Number(r.lastArrival)) - Number(schedule.start);
    return {
      open,
      deliveriesPerS: (received / windowMs) * 1000,
      demandedPerS: open * RATE,
      missed: Number(r.expected) - received,
      closedEarly: Number(r.closedEarly),
      lagP50Ms: Number(r.lagP50Ms),
      lagP99Ms: Number(r.lagP99Ms),
      idleRssPerConnKb: (rss(idle) - rss(listening)) / open / 1024,
      idleHeapPerConnKb: (heap(idle) - heap(listening)) / open / 1024,
      loadRssGrowthMb: (Number(after.peakRss) - rss(idle)) / 1024 / 1024,
      leftHeapMb: (heap(after) - heap(listening)) / 1024 / 1024,
    };
  } finally {
    await client?.stop(5_000);
    await server.stop(10_000);
  }
}

const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? '1.00' : '∞') : (a / b).toFixed(2));

function summarize(runs: RunResult[]) {
  const pick = (k: keyof RunResult) => median(runs.map((r) => r[k]));
  return {
    open: pick('open'),
    deliveriesPerS: pick('deliveriesPerS'),
    demandedPerS: pick('demandedPerS'),
    missed: runs.reduce((a, r) => a + r.missed, 0),
    closedEarly: runs.reduce((a, r) => a + r.closedEarly, 0),
    lagP50Ms: pick('lagP50Ms'),
    lagP99Ms: pick('lagP99Ms'),
    idleRssPerConnKb: pick('idleRssPerConnKb'),
    idleHeapPerConnKb: pick('idleHeapPerConnKb'),
    loadRssGrowthMb: pick('loadRssGrowthMb'),
    leftHeapMb: pick('leftHeapMb'),
  };
}

/** Runs the section; `rounds` is capped at 3 to keep it near two minutes at the defaults. */
export async function benchSse(rounds: number): Promise<void> {
  const n = Math.max(1, Math.min(rounds, 3));
  if (!(RATE > 0 && RATE <= 1000)) throw new Error(`BENCH_SSE_RATE must be events per second from 1 to 1000, got ${RATE}`);
  if (!(Number.isInteger(EVENTS) && EVENTS > 0)) throw new Error(`BENCH_SSE_EVENTS must be a whole number above 0, got ${EVENTS}`);
  for (const clients of CLIENTS) {
    if (!Number.isInteger(clients) || clients < 1 || clients > MAX_STREAMS) {
      throw new Error(`BENCH_SSE_CLIENTS: each count must be a whole number from 1 to ${MAX_STREAMS}, got ${clients}`);
    }
  }
  const kinds: Kind[] = ['bare', 'service'];
  for (const [i, clients] of CLIENTS.entries()) {
    const runs: Record<Kind, RunResult[]> = { bare: [], service: [] };
    for (let round = 0; round < n; round++) {
      // Alternate the order so drift on a shared machine does not favour one side.
      for (const kind of round % 2 ? [...kinds].reverse() : kinds) runs[kind].push(await runOnce(kind, clients));
    }
    if (i === 0) {
      console.log(
        `\nSSE fan-out (clients in a separate process; ${EVENTS} PoolTotalChanged envelopes per run at ${RATE}/s, ` +
          `payload ${fmt(payloadBytes)} bytes; medians of ${n} rounds)`,
      );
    }
    const bare = summarize(runs.bare);
    const ours = summarize(runs.service);
    console.log(`  ${fmt(clients)} clients (demanded ${fmt(clients * RATE)} deliveries/s)`);
    for (const [name, s] of [
      ['bare node:http', bare],
      ['sse service   ', ours],
    ] as const) {
      console.log(
        `    ${name}  ${fmt(s.deliveriesPerS)} deliveries/s, lag p50 ${fmt(s.lagP50Ms)} ms / p99 ${fmt(s.lagP99Ms)} ms, ` +
          `idle ${s.idleRssPerConnKb.toFixed(1)} KB RSS (${s.idleHeapPerConnKb.toFixed(1)} KB heap) per connection, ` +
          `RSS +${fmt(s.loadRssGrowthMb)} MB under load, heap ${s.leftHeapMb >= 0 ? '+' : ''}${s.leftHeapMb.toFixed(1)} MB once they left; ` +
          `missed ${fmt(s.missed)}, cut ${fmt(s.closedEarly)}` +
          (s.open < clients ? `; only ${fmt(s.open)} connected` : ''),
      );
    }
    console.log(
      `    ratio ours / bare: deliveries ${ratio(ours.deliveriesPerS, bare.deliveriesPerS)}, lag p50 ${ratio(ours.lagP50Ms, bare.lagP50Ms)}, ` +
        `p99 ${ratio(ours.lagP99Ms, bare.lagP99Ms)}, idle RSS per connection ${ratio(ours.idleRssPerConnKb, bare.idleRssPerConnKb)}`,
    );
  }
}
