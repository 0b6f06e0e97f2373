/**
 * `npm run bench -- sse`: fan-out of the SSE service (startSseService fed by
 * a MemoryBus) against a bare node:http server that writes one
 * pre-serialized buffer to every open response, and against better-sse in a
 * minimal server, with the same clients and the same publish schedule, side
 * by side in one run.
 *
 * Each measured run is two fresh processes on loopback: the server with its
 * publisher (bench/sse-server.ts) and the clients (bench/sse-client.ts).
 * The run connects the clients, reads the server's memory with every stream
 * idle, publishes envelopes on a fixed schedule, then reads the clients'
 * counts and lags. Both processes are ended (and killed if they do not go)
 * before the next run starts. Kinds alternate their order every round so
 * drift on a shared machine does not favour one side.
 *
 * Sections: fan-out at each client count; the same with a share of the
 * clients stalled (connected, never reading), watching kernel TCP memory;
 * and a saturation search raising the rate until p99 lag passes a second.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fmt, median } from './stats.js';

export type Kind = 'bare' | 'better-sse' | 'service';
const KINDS: readonly Kind[] = ['bare', 'better-sse', 'service'];
const LABEL: Record<Kind, string> = { bare: 'bare node:http', 'better-sse': 'better-sse 0.16.1', service: 'sse service' };

/** How long the clients wait for late events once publishing is done; a server this far behind has collapsed. */
const GRACE_MS = 5_000;
/** The per-process open-file limit is 20,000 (measured here); keep room for the rest of either process. */
const MAX_STREAMS = 19_000;
/** The saturation search stops at this p99: past it a dashboard is visibly behind. */
const SATURATION_P99_MS = 1_000;
const script = (name: string) => fileURLToPath(new URL(name, import.meta.url));

type Line = Record<string, unknown>;

/** A child speaking JSON lines on stdout; each wait fails rather than hangs if the child dies or stalls. */
export function startChild(args: string[], label: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
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
  const send = (command: string) => child.stdin.write(command + '\n');
  /** Waits for the exit; a child still there after `graceMs` is killed. */
  const stop = async (graceMs: number) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { next, send, stop };
}

/** Kernel memory held by every TCP socket on the machine (/proc/net/sockstat "mem", pages), in bytes; null off Linux. */
export function kernelTcpBytes(): number | null {
  try {
    const m = /TCP:.* mem (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'));
    return m ? Number(m[1]) * 4096 : null;
  } catch {
    return null;
  }
}

/**
 * Bytes in the kernel's queues of the streams to `port`, from /proc/net/tcp{,6}:
 * `server` is what the server's sockets hold unacknowledged (its instance's
 * memory), `clients` what the readers' sockets hold unread (on loopback the
 * same machine; over a network, the browsers'). Null off Linux.
 */
export function streamQueues(port: number): { server: number; clients: number } | null {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let server = 0;
  let clients = 0;
  let read = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    read = true;
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5 || f[3] !== '01') continue;
      const [tx = '0', rx = '0'] = f[4]!.split(':');
      if (f[1]!.endsWith(`:${hex}`)) server += parseInt(tx, 16);
      else if (f[2]!.endsWith(`:${hex}`)) clients += parseInt(rx, 16);
    }
  }
  return read ? { server, clients } : null;
}

const rss = (m: Line) => Number((m.memory as NodeJS.MemoryUsage).rss);
const heap = (m: Line) => {
  const u = m.memory as NodeJS.MemoryUsage;
  return u.heapUsed + u.external;
};

export interface Scenario {
  readonly kind: Kind;
  readonly clients: number;
  readonly rate: number;
  readonly events: number;
  /** Of `clients`, how many connect and never read. */
  readonly stalled?: number;
  /** Per-client bound for the service (SSE_CLIENT_MAX_BUFFER_BYTES). */
  readonly clientMaxBufferBytes?: number;
  /** Directory for a CPU profile of the server process. */
  readonly cpuProfileDir?: string;
}

export interface RunResult {
  readonly readers: number;
  readonly stalled: number;
  readonly deliveriesPerS: number;
  readonly demandedPerS: number;
  readonly missed: number;
  readonly closedEarly: number;
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  /** Server CPU while publishing, in cores (CPU seconds per second). */
  readonly serverCores: number;
  readonly idleRssPerConnKb: number;
  readonly idleHeapPerConnKb: number;
  readonly loadRssGrowthMb: number;
  /** Heap and buffers still held once every client has gone, against the empty server: a leak check. */
  readonly leftHeapMb: number;
  /** Kernel TCP memory: rise from idle streams to the highest sample while publishing, and at the end of it. */
  readonly kernelTcpPeakRiseMb: number | null;
  readonly kernelTcpEndRiseMb: number | null;
  /** At the end of publishing: bytes the server's sockets held unacknowledged, and the readers' sockets held unread (MB). */
  readonly serverSocketQueuesMb: number | null;
  readonly clientSocketQueuesMb: number | null;
  /** Streams open when publishing ended, and the first second at which the stalled ones were all gone (null: never). */
  readonly openAtEnd: number;
  readonly stalledCutBySecond: number | null;
  readonly loadAverage: number;
}

export async function runOnce(s: Scenario): Promise<RunResult> {
  const stalled = s.stalled ?? 0;
  const env: Record<string, string> = {};
  if (s.clientMaxBufferBytes) env.SSE_CLIENT_MAX_BUFFER_BYTES = String(s.clientMaxBufferBytes);
  // One folder per kind and size: node names each thread's profile itself (the tsx loader has a thread too).
  const profile = s.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${s.cpuProfileDir}/${s.kind}-${s.clients}`] : [];
  const load = loadavg()[0]!;
  const server = startChild(
    [
      '--expose-gc',
      ...profile,
      '--import',
      'tsx',
      script('./sse-server.ts'),
      s.kind,
      String(s.events),
      String(s.rate),
      String(MAX_STREAMS),
    ],
    `${s.kind} server`,
    env,
  );
  let client: ReturnType<typeof startChild> | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    const listening = await server.next('listening', 30_000);
    payloadBytes = Number(listening.payloadBytes);
    client = startChild(
      [
        '--import',
        'tsx',
        script('./sse-client.ts'),
        String(listening.url),
        String(s.clients),
        String(s.events),
        String(GRACE_MS),
        String(stalled),
      ],
      'sse client',
    );
    const ready = await client.next('ready', 120_000);
    const readers = Number(ready.open);
    if (readers === 0 && s.clients > stalled) throw new Error(`sse client opened no stream on the ${s.kind} server`);
    server.send('measure');
    const idle = await server.next('memory', 30_000);
    const tcpIdle = kernelTcpBytes();
    let tcpPeak = tcpIdle ?? 0;
    sampler = setInterval(() => (tcpPeak = Math.max(tcpPeak, kernelTcpBytes() ?? 0)), 500);
    server.send('publish');
    // A server this far behind its schedule has collapsed (better-sse with stalled clients does).
    const schedule = await server.next('published', (s.events / s.rate) * 1000 + 30_000);
    clearInterval(sampler);
    const tcpEnd = kernelTcpBytes();
    const queues = streamQueues(Number(new URL(String(listening.url)).port));
    client.send('stop');
    const r = await client.next('result', GRACE_MS + 60_000);
    await client.stop(5_000);
    server.send('measure');
    const after = await server.next('memory', 30_000);
    const received = Number(r.events);
    const publishMs = Number(schedule.end) - Number(schedule.start);
    const windowMs = Math.max(Number(schedule.end), Number(r.lastArrival)) - Number(schedule.start);
    const timeline = schedule.timeline as [number, number][];
    const cutAt = stalled > 0 ? timeline.find(([, open]) => open <= readers) : undefined;
    const mb = (b: number) => b / 1024 / 1024;
    return {
      readers,
      stalled,
      deliveriesPerS: (received / windowMs) * 1000,
      demandedPerS: readers * s.rate,
      missed: Number(r.expected) - received,
      closedEarly: Number(r.closedEarly),
      lagP50Ms: Number(r.lagP50Ms),
      lagP99Ms: Number(r.lagP99Ms),
      serverCores: Number(schedule.cpuMicros) / 1000 / publishMs,
      idleRssPerConnKb: (rss(idle) - rss(listening)) / s.clients / 1024,
      idleHeapPerConnKb: (heap(idle) - heap(listening)) / s.clients / 1024,
      loadRssGrowthMb: mb(Number(after.peakRss) - rss(idle)),
      leftHeapMb: mb(heap(after) - heap(listening)),
      kernelTcpPeakRiseMb: tcpIdle === null ? null : mb(tcpPeak - tcpIdle),
      kernelTcpEndRiseMb: tcpIdle === null || tcpEnd === null ? null : mb(tcpEnd - tcpIdle),
      serverSocketQueuesMb: queues ? mb(queues.server) : null,
      clientSocketQueuesMb: queues ? mb(queues.clients) : null,
      openAtEnd: Number(schedule.connections),
      stalledCutBySecond: cutAt ? Math.ceil(cutAt[0] / 1000) : null,
      loadAverage: load,
    };
  } finally {
    clearInterval(sampler);
    await client?.stop(5_000);
    await server.stop(10_000);
  }
}

let payloadBytes = 0;

export type Summary = { [K in keyof RunResult]: RunResult[K] } & { rounds: number };

function summarize(runs: RunResult[]): Summary {
  const pick = <K extends keyof RunResult>(k: K) => {
    const xs = runs.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
    return xs.length ? median(xs) : null;
  };
  const out: Record<string, unknown> = { rounds: runs.length };
  for (const k of Object.keys(runs[0]!) as (keyof RunResult)[]) out[k] = pick(k);
  out.missed = runs.reduce((a, r) => a + r.missed, 0);
  out.closedEarly = runs.reduce((a, r) => a + r.closedEarly, 0);
  out.stalledCutBySecond = runs.some((r) => r.stalled > 0 && r.stalledCutBySecond === null) ? null : pick('stalledCutBySecond');
  return out as Summary;
}

export const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b);
const r2 = (x: number | null) => (x === null ? '-' : x.toFixed(2));
const ms = (x: number | null) => (x === null ? '-' : fmt(x));

export interface FanoutResult {
  readonly clients: number;
  readonly rate: number;
  readonly events: number;
  readonly stalled: number;
  readonly byKind: Partial<Record<Kind, Summary>>;
  /** Kinds with a run that did not finish, and why (the others' figures still stand). */
  readonly failed?: Partial<Record<Kind, string>>;
}

/** One run, or the reason it did not finish: a server that collapses is a result, not a reason to lose the others. */
async function tryRun(s: Scenario, failed: Partial<Record<Kind, string>>): Promise<RunResult | null> {
  try {
    return await runOnce(s);
  } catch (err) {
    failed[s.kind] = (err as Error).message;
    console.log(
      `    (${LABEL[s.kind]}, ${fmt(s.clients)} clients${s.stalled ? `, ${fmt(s.stalled)} stalled` : ''}: did not finish: ${(err as Error).message})`,
    );
    return null;
  }
}

export interface SaturationStep {
  /** Set when the run did not finish (the server fell too far behind): saturated. */
  readonly failed?: string;
  readonly rate: number;
  readonly deliveriesPerS: number;
  readonly demandedPerS: number;
  readonly lagP99Ms: number;
  readonly serverCores: number;
}

export interface SseReport {
  readonly payloadBytes: number;
  readonly fanout: FanoutResult[];
  readonly stalled:
    (FanoutResult & { readonly clientMaxBufferBytes: number; readonly withoutStalled: Partial<Record<Kind, Summary>> }) | null;
  readonly saturation: { readonly clients: number; readonly byKind: Partial<Record<Kind, SaturationStep[]>> } | null;
}

export interface SseOptions {
  readonly rounds: number;
  readonly clients: readonly number[];
  readonly rate: number;
  readonly seconds: number;
  readonly kinds?: readonly Kind[];
  /** Stalled-client variant: clients, share stalled, per-client bound for the service, seconds. */
  readonly stall?: {
    readonly clients: number;
    readonly share: number;
    readonly clientMaxBufferBytes: number;
    readonly seconds: number;
    readonly rounds: number;
  };
  /** Saturation search: clients, rates to try in order, seconds per step. */
  readonly saturation?: { readonly clients: number; readonly rates: readonly number[]; readonly seconds: number };
  readonly cpuProfileDir?: string;
}

function printFanout(f: FanoutResult, kinds: readonly Kind[]): void {
  for (const [k, why] of Object.entries(f.failed ?? {}))
    if (!f.byKind[k as Kind]) console.log(`    ${LABEL[k as Kind].padEnd(18)} every run failed: ${why}`);
  console.log(
    `  ${fmt(f.clients)} clients${f.stalled ? ` (${fmt(f.stalled)} stalled)` : ''} x ${f.rate}/s (demanded ${fmt((f.clients - f.stalled) * f.rate)} deliveries/s)`,
  );
  for (const k of kinds) {
    const s = f.byKind[k];
    if (!s) continue;
    console.log(
      `    ${LABEL[k].padEnd(18)} ${fmt(s.deliveriesPerS)} deliveries/s, lag p50 ${ms(s.lagP50Ms)} / p99 ${ms(s.lagP99Ms)} ms, ` +
        `CPU ${r2(s.serverCores)} cores, idle RSS ${s.idleRssPerConnKb.toFixed(1)} KB/conn (heap ${s.idleHeapPerConnKb.toFixed(1)}), RSS growth ${fmt(s.loadRssGrowthMb)} MB` +
        (s.kernelTcpPeakRiseMb !== null ? `, kernel TCP +${fmt(s.kernelTcpPeakRiseMb)} MB peak` : '') +
        (f.stalled ? `, stalled all cut by ${s.stalledCutBySecond === null ? 'never' : `${s.stalledCutBySecond} s`}` : '') +
        (f.stalled && s.serverSocketQueuesMb !== null
          ? `, at the end server sockets hold ${s.serverSocketQueuesMb.toFixed(1)} MB unacknowledged, readers' sockets ${s.clientSocketQueuesMb!.toFixed(1)} MB unread`
          : '') +
        (s.missed ? `, ${fmt(s.missed)} missed` : '') +
        `  [load ${s.loadAverage.toFixed(1)}]`,
    );
  }
  const ours = f.byKind.service;
  const bare = f.byKind.bare;
  if (ours && bare) {
    console.log(
      `    service / bare: deliveries ${r2(ratio(ours.deliveriesPerS, bare.deliveriesPerS))}, lag p99 ${r2(ratio(ours.lagP99Ms, bare.lagP99Ms))}, ` +
        `CPU ${r2(ratio(ours.serverCores, bare.serverCores))}, idle RSS per connection ${r2(ratio(ours.idleRssPerConnKb, bare.idleRssPerConnKb))}` +
        (f.byKind['better-sse']
          ? `; service / better-sse deliveries ${r2(ratio(ours.deliveriesPerS, f.byKind['better-sse'].deliveriesPerS))}`
          : ''),
    );
  }
}

async function rounds(
  base: Omit<Scenario, 'kind'>,
  kinds: readonly Kind[],
  n: number,
  failed: Partial<Record<Kind, string>>,
): Promise<Partial<Record<Kind, Summary>>> {
  const runs = new Map<Kind, RunResult[]>(kinds.map((k) => [k, []]));
  for (let round = 0; round < n; round++) {
    for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
      const r = await tryRun({ ...base, kind }, failed);
      if (r) runs.get(kind)!.push(r);
    }
  }
  return Object.fromEntries([...runs].filter(([, r]) => r.length).map(([k, r]) => [k, summarize(r)]));
}

export async function benchSse(o: SseOptions): Promise<SseReport> {
  const kinds = o.kinds ?? KINDS;
  if (!(o.rate > 0 && o.rate <= 1000)) throw new Error(`BENCH_SSE_RATE must be events per second from 1 to 1000, got ${o.rate}`);
  for (const clients of [...o.clients, o.stall?.clients ?? 1, o.saturation?.clients ?? 1]) {
    if (!Number.isInteger(clients) || clients < 1 || clients > MAX_STREAMS) {
      throw new Error(`BENCH_SSE_CLIENTS: each count must be a whole number from 1 to ${MAX_STREAMS}, got ${clients}`);
    }
  }
  const events = Math.max(1, Math.round(o.rate * o.seconds));
  const fanout: FanoutResult[] = [];
  for (const clients of o.clients) {
    const failed: Partial<Record<Kind, string>> = {};
    const byKind = await rounds({ clients, rate: o.rate, events, cpuProfileDir: o.cpuProfileDir }, kinds, o.rounds, failed);
    if (fanout.length === 0) {
      console.log(
        `\nSSE fan-out (clients in a separate process; PoolTotalChanged envelopes at ${o.rate}/s for ${o.seconds} s, ` +
          `payload ${fmt(payloadBytes)} bytes; medians of ${o.rounds} alternating rounds)`,
      );
    }
    const f = { clients, rate: o.rate, events, stalled: 0, byKind, failed };
    printFanout(f, kinds);
    fanout.push(f);
  }

  let stalled: SseReport['stalled'] = null;
  if (o.stall) {
    const st = o.stall;
    const n = Math.round(st.clients * st.share);
    const stallEvents = Math.max(1, Math.round(o.rate * st.seconds));
    console.log(
      `\nSSE with ${Math.round(st.share * 100)}% of clients stalled (connected, never reading), ${st.seconds} s; ` +
        `service per-client bound ${fmt(st.clientMaxBufferBytes / 1024)} KiB; kernel TCP memory from /proc/net/sockstat; medians of ${st.rounds} alternating rounds`,
    );
    // The reference for the readers' lag: the service in the same rounds with every client reading.
    const base = { clients: st.clients, rate: o.rate, events: stallEvents, clientMaxBufferBytes: st.clientMaxBufferBytes };
    const runs = new Map<string, RunResult[]>();
    const failed: Partial<Record<Kind, string>> = {};
    const order: [Kind, number][] = [...kinds.map((k): [Kind, number] => [k, n]), ['service', 0]];
    for (let round = 0; round < st.rounds; round++) {
      for (const [kind, stalledCount] of round % 2 ? [...order].reverse() : order) {
        const key = `${kind}:${stalledCount}`;
        if (!runs.has(key)) runs.set(key, []);
        const r = await tryRun({ ...base, kind, stalled: stalledCount }, failed);
        if (r) runs.get(key)!.push(r);
      }
    }
    const byKind = Object.fromEntries(
      kinds.filter((k) => runs.get(`${k}:${n}`)?.length).map((k) => [k, summarize(runs.get(`${k}:${n}`)!)]),
    );
    const withoutStalled = runs.get('service:0')?.length ? { service: summarize(runs.get('service:0')!) } : {};
    stalled = {
      clients: st.clients,
      rate: o.rate,
      events: stallEvents,
      stalled: n,
      clientMaxBufferBytes: st.clientMaxBufferBytes,
      byKind,
      failed,
      withoutStalled,
    };
    printFanout(stalled, kinds);
    const withS = byKind.service;
    if (withS && withoutStalled.service) {
      const perStalled = withS.kernelTcpEndRiseMb === null ? null : (withS.kernelTcpEndRiseMb * 1024) / n;
      console.log(
        `    service without stalled clients: lag p99 ${ms(withoutStalled.service.lagP99Ms)} ms; readers' p99 with / without ${r2(ratio(withS.lagP99Ms, withoutStalled.service.lagP99Ms))}` +
          (perStalled !== null ? `; kernel TCP at the end ${perStalled.toFixed(0)} KB per stalled client` : ''),
      );
    }
  }

  let saturation: SseReport['saturation'] = null;
  if (o.saturation) {
    const sat = o.saturation;
    console.log(
      `\nSSE saturation (${fmt(sat.clients)} clients; rate raised until p99 lag passes ${fmt(SATURATION_P99_MS)} ms; one run per step)`,
    );
    const byKind: Partial<Record<Kind, SaturationStep[]>> = {};
    for (const kind of kinds) {
      const steps: SaturationStep[] = [];
      for (const rate of sat.rates) {
        const r = await tryRun({ kind, clients: sat.clients, rate, events: Math.max(1, Math.round(rate * sat.seconds)) }, {});
        if (!r) {
          steps.push({
            rate,
            failed: 'did not finish its schedule',
            deliveriesPerS: 0,
            demandedPerS: sat.clients * rate,
            lagP99Ms: Number.POSITIVE_INFINITY,
            serverCores: 0,
          });
          break;
        }
        steps.push({
          rate,
          deliveriesPerS: r.deliveriesPerS,
          demandedPerS: r.demandedPerS,
          lagP99Ms: r.lagP99Ms,
          serverCores: r.serverCores,
        });
        if (r.lagP99Ms > SATURATION_P99_MS) break;
      }
      byKind[kind] = steps;
      const ok = steps.filter((x) => !x.failed && x.lagP99Ms <= SATURATION_P99_MS).at(-1);
      console.log(
        `    ${LABEL[kind].padEnd(18)} ` +
          steps
            .map((x) => (x.failed ? `${x.rate}/s: ${x.failed}` : `${x.rate}/s: ${fmt(x.deliveriesPerS)} del/s p99 ${fmt(x.lagP99Ms)} ms`))
            .join('; ') +
          ` => highest rate under ${fmt(SATURATION_P99_MS)} ms: ${ok ? `${ok.rate}/s (${fmt(ok.deliveriesPerS)} deliveries/s)` : 'none'}`,
      );
    }
    saturation = { clients: sat.clients, byKind };
  }
  return { payloadBytes, fanout, stalled, saturation };
}
