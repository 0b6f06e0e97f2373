/**
 * The subscriber side of `npm run bench`: ingest throughput, publishing to
 * the Pub/Sub emulator, end-to-end latency and history writes, each beside
 * a reference measured in the same run.
 *
 * Frames come from bench/frame-sender.ts in its own process (the Tote
 * stand-in); SSE readers for the end-to-end figures are bench/sse-client.ts
 * in theirs. The ingest pipeline under test runs in this process, so
 * process.cpuUsage() here is its CPU (the emulator's JVM is not counted);
 * end to end through the emulator, the subscriber and the SSE service are
 * each their own process (bench/e2e-part.ts), as deployed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PubSub } from '@google-cloud/pubsub';
import WebSocket from 'ws';
import { envelopeAttributes } from '../src/bus/attributes.js';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import type { EnvelopePublisher } from '../src/bus/types.js';
import { CATALOG, bundledDocument, entryForRootField } from '../src/catalog/catalog.js';
import { loadConfig, type Config } from '../src/config/index.js';
import { makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { createHistorySink, type HistorySink } from '../src/history/index.js';
import { MESSAGE_COLUMNS, DEAD_LETTER_COLUMNS, MESSAGES_TABLE, DEAD_LETTERS_TABLE } from '../src/history/schema.js';
import { createLogger } from '../src/log/logger.js';
import { startSseService, type SseStatus } from '../src/sse/index.js';
import { Ingest } from '../src/subscriber/ingest.js';
import { ToteClient } from '../src/tote/client.js';
import { FakeBigQuery } from '../test/bigquery-server/fake-bigquery.js';
import { localAuthClient } from '../test/bigquery-server/local-auth.js';
import { startChild } from './sse.js';
import { pacedLabel } from './report.js';
import { fmt, median } from './stats.js';

const log = createLogger({ component: 'bench' });
const script = (name: string) => fileURLToPath(new URL(name, import.meta.url));

export async function startSender(frames: number, rate = 0): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script('./frame-sender.ts'), String(frames), String(rate)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line]: Buffer[] = await once(child.stdout, 'data');
  const { port } = JSON.parse(String(line).split('\n')[0]!);
  return { url: `ws://127.0.0.1:${port}/`, child };
}

/** Rate and CPU of one measured stretch: from the first message to the last one done. */
interface Throughput {
  readonly perS: number;
  readonly cpuSecondsPer10k: number;
}

function throughput(n: number, ms: number, cpu: NodeJS.CpuUsage): Throughput {
  return { perS: (n / ms) * 1000, cpuSecondsPer10k: ((cpu.user + cpu.system) / 1e6 / n) * 10_000 };
}

/** Baseline: a bare ws client that only JSON.parses each frame. */
async function bareParse(url: string, frames: number): Promise<Throughput> {
  const ws = new WebSocket(url, 'graphql-ws', { perMessageDeflate: false });
  let n = 0;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  const done = new Promise<Throughput>((resolve) => {
    ws.on('message', (data) => {
      const msg = JSON.parse((data as Buffer).toString());
      if (msg.type !== 'data') return;
      if (n === 0) {
        t0 = performance.now();
        cpu0 = process.cpuUsage();
      }
      if (++n === frames) resolve(throughput(frames - 1, performance.now() - t0, process.cpuUsage(cpu0)));
    });
  });
  await once(ws, 'open');
  ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  CATALOG.forEach((e, i) => ws.send(JSON.stringify({ id: String(i + 1), type: 'start', payload: { query: bundledDocument(e) } })));
  const r = await done;
  ws.terminate();
  return r;
}

/** A bus that accepts and forgets: what the client, the envelope and the accounting cost alone. */
class NoopBus implements EnvelopePublisher {
  readonly name = 'noop';
  onPublish: (e: Envelope) => void = () => undefined;
  async connect(): Promise<void> {}
  async publish(e: Envelope): Promise<void> {
    this.onPublish(e);
  }
  async publishDeadLetter(): Promise<void> {}
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  backlog(): number {
    return 0;
  }
}

/**
 * The real path: ToteClient -> Ingest (envelope, keys, accounting) ->
 * publisher and history, with the client paused when Ingest says so.
 * Done when `settled()` says every frame is through.
 */
export function runPipeline(cfg: Config, publisher: EnvelopePublisher, history: HistorySink, onEnvelope?: (e: Envelope) => void) {
  const client: { current?: ToteClient } = {};
  const ingest = new Ingest({
    publisher,
    history,
    log,
    instanceId: 'bench',
    source: 'bench',
    onEnvelope,
    onPressure: (paused) => (paused ? client.current?.pause() : client.current?.resume()),
  });
  client.current = new ToteClient({
    config: cfg.tote,
    log,
    handlers: {
      onMessage: (e, p, raw, m) => ingest.handleMessage(e, p, raw, m),
      onBadFrame: (r, d, raw, m, e) => ingest.handleBadFrame(r, d, raw, m, e),
    },
  });
  client.current.start();
  return { ingest, stop: () => client.current!.stop() };
}

const toteEnv = (url: string) => ({
  TOTE_SUBSCRIPTIONS_URL: url,
  TOTE_API_KEY: 'bench-key',
  TOTE_INTROSPECT: 'false',
  TOTE_PROTOCOL: 'graphql-ws',
});

/** Polls `done` on a short timer; the caller bounds the whole wait. */
async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`bench: ${what} not done within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export type IngestVariant = 'noop' | 'memory' | 'duckdb' | 'emulator';

export async function ingestOnce(
  variant: IngestVariant,
  url: string,
  frames: number,
  emulatorHost: string | null,
  dir: string,
): Promise<Throughput> {
  const env: Record<string, string> = { ...toteEnv(url), HISTORY: variant === 'duckdb' ? 'duckdb' : 'none' };
  if (variant === 'duckdb') Object.assign(env, { DUCKDB_PATH: join(dir, `ingest-${Date.now()}.duckdb`), HISTORY_SPILL: 'none' });
  if (variant === 'emulator')
    Object.assign(env, { BUS: 'pubsub', PUBSUB_EMULATOR_HOST: emulatorHost!, GOOGLE_CLOUD_PROJECT: 'bench', PUBSUB_ORDERING: 'true' });
  const cfg = loadConfig(env);
  const history = createHistorySink(cfg.history);
  await history.connect();
  let publisher: EnvelopePublisher;
  let seen = 0;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  const first = () => {
    if (seen++ === 0) {
      t0 = performance.now();
      cpu0 = process.cpuUsage();
    }
  };
  if (variant === 'noop') publisher = new NoopBus();
  else if (variant === 'emulator') publisher = new PubSubPublisher(cfg.bus, log);
  else publisher = new MemoryBus();
  await publisher.connect();
  const p = runPipeline(cfg, publisher, history, first);
  try {
    // Done when every frame is settled: published or dead-lettered, and with history, stored too.
    const settled = () => {
      const t = p.ingest.stats().totals;
      const stored = variant === 'duckdb' ? history.status().stored : frames;
      return t.published + t.deadLettered >= frames && t.inFlight === 0 && stored >= frames;
    };
    await until(settled, 600_000, `${variant} ingest of ${frames} frames`);
    const r = throughput(frames - 1, performance.now() - t0, process.cpuUsage(cpu0));
    const dl = p.ingest.stats().totals.deadLettered;
    if (dl > 0) throw new Error(`bench: ${dl} of ${frames} frames were dead-lettered in the ${variant} run`);
    return r;
  } finally {
    await p.stop();
    await publisher.close();
    await history.close();
  }
}

/** The envelope JSON a PoolTotalChanged frame becomes, for the bare publisher to send the same bytes. */
export function sampleEnvelopes(n: number, keys: number): Envelope[] {
  const entry = entryForRootField('onPoolTotalChanged')!;
  const origin = { source: 'bench', protocol: 'graphql-ws' as const, connectionId: 'c', instanceId: 'i' };
  const money = (v: number) => ({ decimalAmount: v, currency: { code: 'GBP' } });
  return Array.from({ length: n }, (_, k) => {
    const productId = `9b1c0d1e-0000-4000-8000-${String(k % keys).padStart(12, '0')}`;
    const payload = { productId, isFinalized: false, total: { grossAmounts: [money(6645.4 + k)], netAmounts: [money(4917.6 + k)] } };
    return makeEnvelope(entry, payload, { productId }, origin);
  });
}

/**
 * Reference: @google-cloud/pubsub alone, the same batching settings as the
 * project's publisher, the same envelope bytes and ordering keys, one topic;
 * with `attributes`, also the attributes the project's publisher sends with
 * each envelope (built inside the timing too), so both send the same messages.
 */
export async function barePublisher(
  emulatorHost: string,
  cfg: Config,
  envelopes: readonly Envelope[],
  attributes = true,
): Promise<Throughput> {
  const pubsub = new PubSub({ projectId: 'bench', apiEndpoint: emulatorHost, emulatorMode: true });
  const name = `bench-bare-${Date.now()}`;
  const [topic] = await pubsub.createTopic(name);
  const t = pubsub.topic(topic.name, {
    messageOrdering: true,
    batching: { maxMessages: cfg.bus.batchMaxMessages, maxBytes: cfg.bus.batchMaxBytes, maxMilliseconds: cfg.bus.batchMaxMs },
  });
  const entry = entryForRootField('onPoolTotalChanged')!;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // Serialized inside the timing, as the project's publisher must.
  await Promise.all(
    envelopes.map((e) =>
      t.publishMessage({
        data: Buffer.from(JSON.stringify(e)),
        orderingKey: e.keys[entry.orderingKey],
        ...(attributes ? { attributes: envelopeAttributes(e) } : {}),
      }),
    ),
  );
  const r = throughput(envelopes.length, performance.now() - t0, process.cpuUsage(cpu0));
  await topic.delete().catch(() => undefined);
  await pubsub.close();
  return r;
}

/** The project's publisher on the same emulator: the envelopes handed over as fast as it takes them. */
export async function projectPublisher(cfg: Config, envelopes: readonly Envelope[]): Promise<Throughput> {
  const pub = new PubSubPublisher(cfg.bus, log);
  await pub.connect();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(envelopes.map((e) => pub.publish(e)));
  const r = throughput(envelopes.length, performance.now() - t0, process.cpuUsage(cpu0));
  await pub.close();
  return r;
}

export interface IngestReport {
  readonly frames: number;
  readonly rounds: number;
  readonly medians: Partial<Record<'bare' | IngestVariant, Throughput>>;
  /** The emulator path: messages per publish request, the median of the rounds. */
  readonly emulatorMessagesPerRequest?: number;
  readonly publish: {
    readonly messages: number;
    readonly keys: number;
    /** The reference: the same data and attributes. */
    readonly bare: Throughput;
    /** The bare client sending the data alone: what the attributes cost. */
    readonly bareDataOnly?: Throughput;
    readonly project: Throughput;
  } | null;
}

const med = (xs: Throughput[]): Throughput => ({
  perS: median(xs.map((x) => x.perS)),
  cpuSecondsPer10k: median(xs.map((x) => x.cpuSecondsPer10k)),
});
const tp = (t: Throughput | undefined) => (t ? `${fmt(t.perS)} msg/s, ${t.cpuSecondsPer10k.toFixed(2)} CPU-s per 10,000` : '-');

export async function benchIngest(o: {
  rounds: number;
  frames: number;
  publishMessages: number;
  emulatorHost: string | null;
  /** Which frame paths to run (default all; empty for the publish comparison alone). */
  variants?: readonly ('bare' | IngestVariant)[];
}): Promise<IngestReport> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ingest-'));
  const variants = (o.variants ?? ['bare', 'noop', 'memory', 'duckdb', 'emulator']).filter((v) => v !== 'emulator' || o.emulatorHost);
  const runs = new Map<string, Throughput[]>(variants.map((v) => [v, []]));
  const emulatorPerRequest: number[] = [];
  let publish: IngestReport['publish'] = null;
  try {
    for (let round = 0; round < o.rounds; round++) {
      for (const v of round % 2 ? [...variants].reverse() : variants) {
        // DuckDB and the emulator are the slow ones: fewer frames keep a round near the others' length.
        const frames = v === 'duckdb' || v === 'emulator' ? Math.max(1_000, Math.round(o.frames / 4)) : o.frames;
        const sender = await startSender(frames);
        try {
          if (v === 'bare') runs.get(v)!.push(await bareParse(sender.url, frames));
          else if (v === 'emulator') {
            // Topic objects bind the client's request method when made, inside ingestOnce, so inside the count.
            const counted = await countPublishRequests(() => ingestOnce(v, sender.url, frames, o.emulatorHost, dir));
            runs.get(v)!.push(counted.result);
            emulatorPerRequest.push(counted.messages / Math.max(1, counted.requests));
          } else runs.get(v)!.push(await ingestOnce(v, sender.url, frames, o.emulatorHost, dir));
        } finally {
          sender.child.kill();
        }
      }
    }
    if (o.emulatorHost) {
      const cfg = loadConfig({
        BUS: 'pubsub',
        PUBSUB_EMULATOR_HOST: o.emulatorHost,
        GOOGLE_CLOUD_PROJECT: 'bench',
        PUBSUB_ORDERING: 'true',
      });
      const envelopes = sampleEnvelopes(o.publishMessages, 200);
      const host = o.emulatorHost;
      const kinds = {
        bare: () => barePublisher(host, cfg, envelopes),
        bareDataOnly: () => barePublisher(host, cfg, envelopes, false),
        project: () => projectPublisher(cfg, envelopes),
      };
      const order = Object.keys(kinds) as (keyof typeof kinds)[];
      const got = { bare: [] as Throughput[], bareDataOnly: [] as Throughput[], project: [] as Throughput[] };
      for (let round = 0; round < o.rounds; round++) {
        for (const k of round % 2 ? [...order].reverse() : order) got[k].push(await kinds[k]());
      }
      publish = {
        messages: o.publishMessages,
        keys: 200,
        bare: med(got.bare),
        bareDataOnly: med(got.bareDataOnly),
        project: med(got.project),
      };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const medians: IngestReport['medians'] = Object.fromEntries([...runs].filter(([, r]) => r.length).map(([v, r]) => [v, med(r)]));
  const bare = medians.bare;
  console.log(
    `\nIngest (legacy graphql-ws frames from a separate process; ${fmt(o.frames)} frames a round, a quarter of that for DuckDB and the emulator; medians of ${o.rounds} alternating rounds)`,
  );
  const line = (label: string, t: Throughput | undefined) =>
    console.log(`  ${label.padEnd(46)} ${tp(t)}${t && bare && t !== bare ? `  (${(t.perS / bare.perS).toFixed(2)} of bare)` : ''}`);
  line('bare ws + JSON.parse', bare);
  line('client + envelope + no-op bus', medians.noop);
  line('client + envelope + in-process bus', medians.memory);
  line('  the same with DuckDB history (stored)', medians.duckdb);
  line('client + envelope + Pub/Sub emulator, ordered', medians.emulator);
  const emulatorMessagesPerRequest = emulatorPerRequest.length ? median(emulatorPerRequest) : undefined;
  if (emulatorMessagesPerRequest !== undefined)
    console.log(`    (${emulatorMessagesPerRequest.toFixed(1)} messages per publish request, 200 ordering keys)`);
  if (publish) {
    console.log(`  Publishing ${fmt(publish.messages)} envelopes over ${publish.keys} ordering keys to the emulator:`);
    console.log(
      `    bare @google-cloud/pubsub, same data and attributes ${tp(publish.bare)}; this publisher ${tp(publish.project)} (${(publish.project.perS / publish.bare.perS).toFixed(2)} of bare)`,
    );
    if (publish.bareDataOnly)
      console.log(
        `    bare @google-cloud/pubsub, data without attributes ${tp(publish.bareDataOnly)} (this publisher ${(publish.project.perS / publish.bareDataOnly.perS).toFixed(2)} of it)`,
      );
  }
  return { frames: o.frames, rounds: o.rounds, medians, emulatorMessagesPerRequest, publish };
}

export interface E2eResult {
  /** bare-emulator: the reference, the bare client publishing and pulling on the same emulator. */
  readonly mode: 'memory' | 'emulator' | 'bare-emulator';
  readonly rate: number;
  readonly frames: number;
  readonly readers: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  readonly missed: number;
  /**
   * Through the emulator: the CPU each process used while frames flowed
   * (first frame published to the last), in cores; the emulator's JVM is read
   * from /proc. Null where it could not be read.
   */
  readonly cores?: Readonly<Record<string, number | null>>;
}

/** Per-second samples while frames flow (bench/profile-e2e.ts). */
export type E2eSample = {
  sse: SseStatus;
  published: number;
  publishLatency: { p50Ms: number | null; p99Ms: number | null } | undefined;
  /** Through the emulator: the longest event-loop delay of each part's process in the last second. */
  loopDelayMaxMs?: { subscriber: number; sse: number };
};

export interface E2eOptions {
  /** Called every second while frames flow, with the SSE service's /status and what has been published. */
  readonly onSecond?: (sample: E2eSample) => void;
  /** Through the emulator: write a V8 CPU profile of the subscriber and the SSE processes under this folder. */
  readonly cpuProfileDir?: string;
}

/** Result of the SSE readers' process once told to stop. */
function readerResult(mode: E2eResult['mode'], rate: number, frames: number, readers: number, r: Record<string, unknown>): E2eResult {
  return {
    mode,
    rate,
    frames,
    readers,
    p50Ms: r.lagP50Ms as number | null,
    p95Ms: r.lagP95Ms as number | null,
    p99Ms: r.lagP99Ms as number | null,
    maxMs: r.lagMaxMs as number | null,
    missed: Number(r.expected) - Number(r.events),
  };
}

const readerArgs = (url: string, readers: number, frames: number) => [
  '--import',
  'tsx',
  script('./sse-client.ts'),
  url,
  String(readers),
  String(frames),
  '10000',
  '0',
  'sentAt',
];

/**
 * One end-to-end run: the frame sender writes `rate` frames a second, each
 * stamped when written; SSE readers in their own process read the stamp off
 * every event they get. In process (`memory`), this process runs the Tote
 * client, Ingest, the in-process bus and the SSE service between them.
 * Through the emulator, the parts run as deployed: the subscriber (Tote
 * client, Ingest, publisher) and the SSE service (this instance's consumer
 * subscriptions, hub, HTTP) are each their own process (bench/e2e-part.ts).
 */
export async function e2eOnce(
  mode: 'memory' | 'emulator',
  rate: number,
  seconds: number,
  readers: number,
  emulatorHost: string | null,
  opts: E2eOptions = {},
): Promise<E2eResult> {
  return mode === 'memory' ? e2eInProcess(rate, seconds, readers, opts) : e2eDeployed(rate, seconds, readers, emulatorHost!, opts);
}

async function e2eInProcess(rate: number, seconds: number, readers: number, { onSecond }: E2eOptions): Promise<E2eResult> {
  const frames = Math.round(rate * seconds);
  const sender = await startSender(frames, rate);
  const cfg = loadConfig({ ...toteEnv(sender.url), HISTORY: 'none', PORT: '0' });
  const closers: (() => Promise<unknown>)[] = [async () => sender.child.kill()];
  let client: ReturnType<typeof startChild> | undefined;
  try {
    const bus = new MemoryBus();
    const sse = await startSseService({ config: cfg.sse, source: bus, host: '127.0.0.1', log });
    closers.unshift(() => sse.close());
    client = startChild(readerArgs(sse.url, readers, frames), 'e2e sse client');
    await client.next('ready', 60_000);
    const p = runPipeline(cfg, bus, createHistorySink(cfg.history));
    closers.unshift(() => p.stop());
    if (onSecond) {
      const t = setInterval(
        () => onSecond({ sse: sse.status(), published: p.ingest.stats().totals.published, publishLatency: undefined }),
        1_000,
      );
      closers.unshift(async () => clearInterval(t));
    }
    await until(
      () => p.ingest.stats().totals.published + p.ingest.stats().totals.deadLettered >= frames,
      seconds * 1000 + 120_000,
      `e2e in process at ${rate}/s`,
    );
    client.send('stop');
    return readerResult('memory', rate, frames, readers, await client.next('result', 30_000));
  } finally {
    await client?.stop(5_000);
    for (const c of closers) await c().catch(() => undefined);
  }
}

/** Streaming-pull streams @google-cloud/pubsub opens per subscription by default (the bare reference's). */
const BARE_STREAMS = 5;

/** The emulator's JVM: the java process serving `host`'s port, found in /proc. Null off Linux or if not found. */
function emulatorPid(host: string): number | null {
  const port = host.split(':').pop();
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'latin1');
      if (cmd.includes('pubsub-emulator') && cmd.includes(`--port=${port}\0`)) return Number(d);
    }
  } catch {
    /* not Linux, or the process went away while read */
  }
  return null;
}

/** User plus system CPU of a process in seconds, from /proc/<pid>/stat (clock ticks of 1/100 s on Linux). */
function processCpuSeconds(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    // The command name (field 2) can hold spaces; the fields after its closing parenthesis are fixed.
    const f = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

async function e2eDeployed(rate: number, seconds: number, readers: number, emulatorHost: string, opts: E2eOptions): Promise<E2eResult> {
  const frames = Math.round(rate * seconds);
  const sender = await startSender(frames, rate);
  const env = {
    BUS: 'pubsub',
    PUBSUB_EMULATOR_HOST: emulatorHost,
    GOOGLE_CLOUD_PROJECT: 'bench',
    PUBSUB_ORDERING: 'true',
    // As many streams per subscription as the bare reference's client opens by default: the emulator
    // delivers about 2,000 messages/s per stream, less than the 5,000/s this bench asks of one topic.
    SSE_CONSUMER_STREAMS: process.env.SSE_CONSUMER_STREAMS ?? String(BARE_STREAMS),
    ...toteEnv(sender.url),
  };
  const part = (role: 'subscriber' | 'sse', extra: string[] = []) =>
    startChild(
      [
        ...(opts.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(opts.cpuProfileDir, `${role}-${rate}`)}`] : []),
        '--import',
        'tsx',
        script('./e2e-part.ts'),
        role,
        ...extra,
      ],
      `e2e ${role}`,
      env,
    );
  const children: ReturnType<typeof startChild>[] = [];
  const ask = async (c: ReturnType<typeof startChild>) => {
    c.send('status');
    return c.next('status', 30_000);
  };
  try {
    // The SSE service first: its subscriptions must exist before anything is published.
    const sse = part('sse');
    children.push(sse);
    const { url } = await sse.next('ready', 60_000);
    const client = startChild(readerArgs(String(url), readers, frames), 'e2e sse client');
    children.push(client);
    await client.next('ready', 60_000);
    const subscriber = part('subscriber', [sender.url]);
    children.push(subscriber);
    await subscriber.next('ready', 60_000);
    const jvm = emulatorPid(emulatorHost);
    const before = { sub: await ask(subscriber), sse: await ask(sse), jvm: processCpuSeconds(jvm), at: performance.now() };
    const deadline = Date.now() + seconds * 1000 + 120_000;
    let last = before.sub;
    for (;;) {
      last = await ask(subscriber);
      if (Number(last.published) + Number(last.deadLettered) >= frames) break;
      if (Date.now() > deadline)
        throw new Error(`bench: e2e through the emulator at ${rate}/s not published within ${seconds * 1000 + 120_000} ms`);
      if (opts.onSecond) {
        const s = await ask(sse);
        opts.onSecond({
          sse: s.sse as SseStatus,
          published: Number(last.published),
          publishLatency: last.publishLatency as E2eSample['publishLatency'],
          loopDelayMaxMs: { subscriber: Number(last.loopDelayMaxMs), sse: Number(s.loopDelayMaxMs) },
        });
      }
      await new Promise((r) => setTimeout(r, opts.onSecond ? 1_000 : 250));
    }
    const after = { sse: await ask(sse), jvm: processCpuSeconds(jvm), at: performance.now() };
    const wallS = (after.at - before.at) / 1000;
    const cores = (a: number, b: number) => Number(((a - b) / 1e6 / wallS).toFixed(2));
    const jvmCores = before.jvm !== null && after.jvm !== null ? Number(((after.jvm - before.jvm) / wallS).toFixed(2)) : null;
    client.send('stop');
    const r = readerResult('emulator', rate, frames, readers, await client.next('result', 30_000));
    return {
      ...r,
      cores: {
        subscriber: cores(Number(last.cpuMicros), Number(before.sub.cpuMicros)),
        sse: cores(Number(after.sse.cpuMicros), Number(before.sse.cpuMicros)),
        emulator: jvmCores,
      },
    };
  } finally {
    // The SSE part deletes its subscriptions on the way out, and a profiled part writes its profile.
    for (const c of children.reverse()) await c.stop(15_000);
    sender.child.kill();
  }
}

/**
 * Reference for the emulator rows: the bare client publishing at the same
 * rate (same batching, same envelope bytes, 200 ordering keys) to one topic
 * and reading it back through an ordered streaming-pull subscription in this
 * process: what the emulator itself adds, publish to delivery.
 */
export async function bareEmulatorLatency(emulatorHost: string, rate: number, seconds: number, streams?: number): Promise<E2eResult> {
  const cfg = loadConfig({ BUS: 'pubsub', PUBSUB_EMULATOR_HOST: emulatorHost, GOOGLE_CLOUD_PROJECT: 'bench', PUBSUB_ORDERING: 'true' });
  const pubsub = new PubSub({ projectId: 'bench', apiEndpoint: emulatorHost, emulatorMode: true });
  const name = `bench-latency-${Date.now()}`;
  const [topic] = await pubsub.createTopic(name);
  const [created] = await topic.createSubscription(name, { enableMessageOrdering: true });
  const sub = streams ? pubsub.subscription(created.name, { streamingOptions: { maxStreams: streams } }) : created;
  const frames = Math.round(rate * seconds);
  const lags: number[] = [];
  const jvm = emulatorPid(emulatorHost);
  const jvm0 = processCpuSeconds(jvm);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let cores: Record<string, number | null> | undefined;
  try {
    sub.on('message', (m) => {
      lags.push(Date.now() - Number(m.attributes.sentAt));
      m.ack();
    });
    const t = pubsub.topic(topic.name, {
      messageOrdering: true,
      batching: { maxMessages: cfg.bus.batchMaxMessages, maxBytes: cfg.bus.batchMaxBytes, maxMilliseconds: cfg.bus.batchMaxMs },
    });
    const envelopes = sampleEnvelopes(frames, 200);
    const entry = entryForRootField('onPoolTotalChanged')!;
    const sent: Promise<string>[] = [];
    await paced(frames, rate, (i) => {
      const e = envelopes[i]!;
      sent.push(
        t.publishMessage({
          data: Buffer.from(JSON.stringify(e)),
          orderingKey: e.keys[entry.orderingKey],
          attributes: { sentAt: String(Date.now()) },
        }),
      );
    });
    await Promise.all(sent);
    await until(() => lags.length >= frames, 60_000, 'bare emulator deliveries');
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const jvm1 = processCpuSeconds(jvm);
    cores = {
      bench: Number(((cpu.user + cpu.system) / 1e6 / wallS).toFixed(2)),
      emulator: jvm0 !== null && jvm1 !== null ? Number(((jvm1 - jvm0) / wallS).toFixed(2)) : null,
    };
  } catch (err) {
    if (!String(err).includes('not done within')) throw err;
  } finally {
    await sub.close().catch(() => undefined);
    await sub.delete().catch(() => undefined);
    await topic.delete().catch(() => undefined);
    await pubsub.close();
  }
  lags.sort((a, b) => a - b);
  const q = (p: number) => (lags.length ? lags[Math.min(lags.length - 1, Math.ceil((p / 100) * lags.length) - 1)]! : null);
  return {
    mode: 'bare-emulator',
    rate,
    frames,
    readers: 1,
    p50Ms: q(50),
    p95Ms: q(95),
    p99Ms: q(99),
    maxMs: q(100),
    missed: frames - lags.length,
    ...(cores ? { cores } : {}),
  };
}

export async function benchE2e(o: {
  rounds: number;
  rates: readonly number[];
  seconds: number;
  readers: number;
  emulatorHost: string | null;
  /** Through the emulator: CPU profiles of the subscriber and SSE processes under this folder. */
  cpuProfileDir?: string;
}): Promise<E2eResult[]> {
  const modes: E2eResult['mode'][] = o.emulatorHost ? ['memory', 'emulator', 'bare-emulator'] : ['memory'];
  const out: E2eResult[] = [];
  console.log(
    `\nEnd to end (frame written by the Tote stand-in -> event read by ${o.readers} SSE readers; ${o.seconds} s per run; medians of ${o.rounds} alternating rounds; whole ms)`,
  );
  for (const rate of o.rates) {
    const runs = new Map<string, E2eResult[]>(modes.map((m) => [m, []]));
    for (let round = 0; round < o.rounds; round++) {
      for (const mode of round % 2 ? [...modes].reverse() : modes) {
        runs
          .get(mode)!
          .push(
            mode === 'bare-emulator'
              ? await bareEmulatorLatency(o.emulatorHost!, rate, o.seconds)
              : await e2eOnce(mode, rate, o.seconds, o.readers, o.emulatorHost, { cpuProfileDir: o.cpuProfileDir }),
          );
      }
    }
    for (const mode of modes) {
      const rs = runs.get(mode)!;
      const pick = (k: 'p50Ms' | 'p95Ms' | 'p99Ms' | 'maxMs') => {
        const xs = rs.map((r) => r[k]).filter((x): x is number => x !== null);
        return xs.length ? median(xs) : null;
      };
      const m: E2eResult = {
        ...rs[0]!,
        p50Ms: pick('p50Ms'),
        p95Ms: pick('p95Ms'),
        p99Ms: pick('p99Ms'),
        maxMs: pick('maxMs'),
        missed: rs.reduce((a, r) => a + r.missed, 0),
        ...(rs[0]!.cores ? { cores: medianCores(rs) } : {}),
      };
      out.push(m);
      console.log(
        `  ${fmt(rate)} msg/s ${{ memory: 'in-process bus          ', emulator: 'Pub/Sub emulator        ', 'bare-emulator': 'bare publish -> pull ref' }[mode]}  p50 ${m.p50Ms} / p95 ${m.p95Ms} / p99 ${m.p99Ms} ms (max ${m.maxMs})` +
          (m.missed ? `, ${fmt(m.missed)} events missed` : '') +
          (m.cores
            ? `; cores ${Object.entries(m.cores)
                .map(([k, v]) => `${k} ${v ?? '-'}`)
                .join(', ')}`
            : ''),
      );
    }
  }
  return out;
}

/** The median of each process's cores over the rounds. */
function medianCores(rs: readonly E2eResult[]): Record<string, number | null> {
  const keys = Object.keys(rs[0]!.cores ?? {});
  return Object.fromEntries(
    keys.map((k) => {
      const xs = rs.map((r) => r.cores?.[k]).filter((x): x is number => typeof x === 'number');
      return [k, xs.length ? Number(median(xs).toFixed(2)) : null];
    }),
  );
}

/** Calls `fn(i)` for i = 0..n-1 at `rate` a second on a 10 ms tick; resolves when all were called. */
function paced(n: number, rate: number, fn: (i: number) => void): Promise<void> {
  const start = Date.now();
  let i = 0;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(n, Math.floor(((Date.now() - start) / 1000) * rate) + 1);
      while (i < due) fn(i++);
      if (i >= n) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
}

/**
 * Counts the publish RPCs @google-cloud/pubsub makes while `run` runs: every
 * batch goes through PubSub.request, which each Topic binds when it is made.
 */
export async function countPublishRequests<T>(run: () => Promise<T>): Promise<{ result: T; requests: number; messages: number }> {
  type Request = (config: { method?: string; reqOpts?: { messages?: unknown[] } }, cb: unknown) => unknown;
  const proto = PubSub.prototype as unknown as { request: Request };
  const original = proto.request;
  let requests = 0;
  let messages = 0;
  proto.request = function (this: unknown, config, cb) {
    if (config.method === 'publish') {
      requests++;
      messages += config.reqOpts?.messages?.length ?? 0;
    }
    return original.call(this, config, cb);
  };
  try {
    return { result: await run(), requests, messages };
  } finally {
    proto.request = original;
  }
}

export interface HistoryReport {
  readonly rows: number;
  readonly duckdb: Throughput & { readonly bytesPerRow: number };
  readonly bigquery: Throughput & { readonly bytesPerRow: number; readonly rowsPerRequest: number };
  readonly at1000: {
    readonly seconds: number;
    readonly bigqueryRowsPerRequest: number;
    readonly publishMessagesPerRequest: number | null;
    readonly publishRequests: number | null;
    /** The same rate over fewer ordering keys and without ordering: what the key count costs. */
    readonly publishByKeys?: readonly PacedPublish[];
  };
}

export interface PacedPublish {
  readonly rate: number;
  readonly keys: number;
  readonly ordered: boolean;
  /** Publish latency (handed over -> Pub/Sub's answer), from the publisher's own window: its part of end-to-end. */
  readonly publishP50Ms: number | null;
  readonly publishP99Ms: number | null;
  readonly messagesPerRequest: number;
  readonly requests: number;
  readonly requestsPerS: number;
  /** This process's CPU while publishing at the rate (the emulator's is not counted). */
  readonly cpuSecondsPer10k: number;
}

/** The project's publisher at `rate` messages/s for `seconds`, envelopes spread over `keys` ordering keys. */
async function pacedPublish(emulatorHost: string, rate: number, keys: number, ordered: boolean, seconds: number): Promise<PacedPublish> {
  const n = rate * seconds;
  const envelopes = sampleEnvelopes(n, keys);
  const cfg = loadConfig({
    BUS: 'pubsub',
    PUBSUB_EMULATOR_HOST: emulatorHost,
    GOOGLE_CLOUD_PROJECT: 'bench',
    PUBSUB_ORDERING: String(ordered),
  });
  const pub = new PubSubPublisher(cfg.bus, log);
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  // Topic objects bind the client's request method when made, so they are made inside the count.
  const counted = await countPublishRequests(async () => {
    await pub.connect();
    const cpu0 = process.cpuUsage();
    const published: Promise<unknown>[] = [];
    await paced(n, rate, (i) => published.push(pub.publish(envelopes[i]!)));
    await Promise.all(published);
    cpu = process.cpuUsage(cpu0);
  });
  const latency = pub.publishLatency();
  await pub.close();
  return {
    rate,
    publishP50Ms: latency.p50Ms,
    publishP99Ms: latency.p99Ms,
    keys,
    ordered,
    messagesPerRequest: counted.messages / Math.max(1, counted.requests),
    requests: counted.requests,
    requestsPerS: counted.requests / seconds,
    cpuSecondsPer10k: ((cpu.user + cpu.system) / 1e6 / n) * 10_000,
  };
}

async function writeAll(sink: HistorySink, envelopes: readonly Envelope[]): Promise<Throughput> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // write() waits while the sink's buffer is full: this is as fast as the store takes rows.
  for (const e of envelopes) await sink.write(e);
  await sink.flush();
  return throughput(envelopes.length, performance.now() - t0, process.cpuUsage(cpu0));
}

export async function benchHistory(o: { rows: number; seconds: number; emulatorHost: string | null }): Promise<HistoryReport> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-history-'));
  const fake = await FakeBigQuery.start({
    project: 'bench',
    dataset: 'tote',
    schemas: { [MESSAGES_TABLE]: MESSAGE_COLUMNS, [DEAD_LETTERS_TABLE]: DEAD_LETTER_COLUMNS },
  });
  try {
    const envelopes = sampleEnvelopes(o.rows, 200);
    const duckPath = join(dir, 'history.duckdb');
    const duck = createHistorySink(loadConfig({ HISTORY: 'duckdb', DUCKDB_PATH: duckPath, HISTORY_SPILL: 'none' }).history);
    await duck.connect();
    const d = await writeAll(duck, envelopes);
    await duck.close();
    const duckdb = { ...d, bytesPerRow: statSync(duckPath).size / o.rows };

    const bqCfg = (extra: Record<string, string> = {}) =>
      loadConfig({
        HISTORY: 'bigquery',
        BQ_PROJECT: 'bench',
        BQ_DATASET: 'tote',
        BQ_API_ENDPOINT: fake.url,
        HISTORY_SPILL: 'none',
        ...extra,
      }).history;
    const bq = createHistorySink(bqCfg(), { bigqueryClientOptions: { authClient: localAuthClient() } });
    await bq.connect();
    const b = await writeAll(bq, envelopes);
    await bq.close();
    const inserts = fake.insertRequests(MESSAGES_TABLE);
    const bigquery = {
      ...b,
      bytesPerRow: inserts.reduce((a, r) => a + r.bytes, 0) / o.rows,
      rowsPerRequest: o.rows / inserts.length,
    };

    // At 1,000 messages a second, the batching the defaults give, for BigQuery inserts and Pub/Sub publishes.
    const n = 1000 * o.seconds;
    const paceEnvelopes = sampleEnvelopes(n, 200);
    const before = fake.insertRequests(MESSAGES_TABLE).length;
    const bqPaced = createHistorySink(bqCfg(), { bigqueryClientOptions: { authClient: localAuthClient() } });
    await bqPaced.connect();
    const writes: Promise<void>[] = [];
    await paced(n, 1000, (i) => writes.push(bqPaced.write(paceEnvelopes[i]!)));
    await Promise.all(writes);
    await bqPaced.close();
    const pacedInserts = fake.insertRequests(MESSAGES_TABLE).length - before;

    let publishMessagesPerRequest: number | null = null;
    let publishRequests: number | null = null;
    let publishByKeys: PacedPublish[] | undefined;
    if (o.emulatorHost) {
      publishByKeys = [];
      // The last at the end-to-end section's higher rate: whether the publisher's part of that latency grows with it.
      for (const [rate, keys, ordered] of [
        [1000, 200, true],
        [1000, 10, true],
        [1000, 1, true],
        [1000, 200, false],
        [5000, 200, true],
      ] as const)
        publishByKeys.push(await pacedPublish(o.emulatorHost, rate, keys, ordered, o.seconds));
      publishRequests = publishByKeys[0]!.requests;
      publishMessagesPerRequest = publishByKeys[0]!.messagesPerRequest;
    }
    const report: HistoryReport = {
      rows: o.rows,
      duckdb,
      bigquery,
      at1000: {
        seconds: o.seconds,
        bigqueryRowsPerRequest: n / Math.max(1, pacedInserts),
        publishMessagesPerRequest,
        publishRequests,
        ...(publishByKeys ? { publishByKeys } : {}),
      },
    };
    console.log(`\nHistory (${fmt(o.rows)} PoolTotalChanged rows written as fast as each store takes them)`);
    console.log(`  DuckDB:             ${tp(duckdb)}, ${fmt(duckdb.bytesPerRow)} bytes per row on disk`);
    console.log(
      `  BigQuery stand-in:  ${tp(bigquery)}, ${fmt(bigquery.bytesPerRow)} request bytes per row, ${bigquery.rowsPerRequest.toFixed(0)} rows per insertAll`,
    );
    console.log(
      `  At 1,000 msg/s for ${o.seconds} s: ${report.at1000.bigqueryRowsPerRequest.toFixed(0)} rows per BigQuery insertAll` +
        (publishMessagesPerRequest !== null
          ? `, ${publishMessagesPerRequest.toFixed(1)} messages per Pub/Sub publish request (200 ordering keys)`
          : ''),
    );
    for (const r of publishByKeys ?? [])
      console.log(
        `    ${pacedLabel(r)}: ${r.messagesPerRequest.toFixed(1)} messages per publish request, ${fmt(r.requestsPerS)} requests/s, ` +
          `${r.cpuSecondsPer10k.toFixed(2)} CPU-s per 10,000, publish latency p50 ${r.publishP50Ms} / p99 ${r.publishP99Ms} ms`,
      );
    return report;
  } finally {
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
