/**
 * `npm run bench [-- section]`: throughput and latency measured in one run
 * on this machine, each figure a median of alternating rounds beside its
 * reference measured in the same run (absolute numbers on a shared machine
 * vary; the ratios are what to compare between commits).
 *
 * Sections: ingest, e2e, sse, history, storm (default: all). Results are printed,
 * written as JSON (BENCH_OUT, default bench/results.json) and, with
 * BENCH_DOCS=1, as the results table in docs/benchmarks.md. BENCH_SMOKE=1
 * runs every section at tiny sizes in seconds: it proves the benchmark
 * works, and says nothing about speed. Sizes and rounds are read from the
 * BENCH_* variables below.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setLogLevel } from '../src/log/logger.js';
import { gcloudAvailable, startPubsubEmulator, type RunningEmulator } from '../test/helpers/pubsub-emulator.js';
import { writeDocsSection } from './render-docs.js';
import { renderResults } from './report.js';

setLogLevel('ERROR');
// Off Google Cloud the auth library probes the metadata server and warns; the emulator needs no credentials.
process.env.METADATA_SERVER_DETECTION ??= 'none';

const SMOKE = process.env.BENCH_SMOKE === '1';
const num = (name: string, full: number, smoke: number) => Number(process.env[name] ?? (SMOKE ? smoke : full));
const list = (name: string, full: string, smoke: string) =>
  (process.env[name] ?? (SMOKE ? smoke : full)).split(',').filter(Boolean).map(Number);

const ROUNDS = num('BENCH_ROUNDS', 3, 1);
const known = ['ingest', 'e2e', 'sse', 'history', 'storm'];
const sections = process.argv[2] ? process.argv[2].split(',') : known;
for (const s of sections) if (!known.includes(s)) throw new Error(`unknown section "${s}": one or more of ${known.join(', ')}`);
const root = fileURLToPath(new URL('..', import.meta.url));
const out = process.env.BENCH_OUT ?? `${root}bench/results.json`;

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(`${root}node_modules/${pkg}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const machine = {
  cpu: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  kernel: `${process.platform} ${release()}`,
  node: process.version,
  versions: Object.fromEntries(
    ['ws', '@google-cloud/pubsub', '@google-cloud/bigquery', '@duckdb/node-api', 'better-sse'].map((p) => [p, versionOf(p)]),
  ),
  commit: commit(),
  startedAt: new Date().toISOString(),
  loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))),
};
console.log(
  `Benchmarks on ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.kernel}, node ${machine.node}; commit ${machine.commit}; ` +
    `load average ${machine.loadAverageAtStart.join(' ')}; rounds ${ROUNDS}${SMOKE ? ' (smoke: tiny sizes, not a measurement)' : ''}`,
);

let emulator: RunningEmulator | null = null;
let emulatorHost: string | null = process.env.PUBSUB_EMULATOR_HOST || null;
if (!emulatorHost && sections.some((s) => s !== 'sse' && s !== 'storm')) {
  const missing = gcloudAvailable();
  if (missing) console.log(`Pub/Sub emulator: not available (${missing}); its rows are skipped`);
  else {
    emulator = await startPubsubEmulator('bench');
    emulatorHost = emulator.host;
  }
}

const results: Record<string, unknown> = { machine, smoke: SMOKE };
try {
  const pipeline = await import('./pipeline.js');
  if (sections.includes('ingest')) {
    results.ingest = await pipeline.benchIngest({
      rounds: ROUNDS,
      frames: num('BENCH_FRAMES', 40_000, 400),
      publishMessages: num('BENCH_PUBLISH_MESSAGES', 10_000, 200),
      emulatorHost,
      variants:
        process.env.BENCH_INGEST_VARIANTS !== undefined
          ? (process.env.BENCH_INGEST_VARIANTS.split(',').filter(Boolean) as never)
          : undefined,
    });
  }
  if (sections.includes('e2e')) {
    results.e2e = await pipeline.benchE2e({
      rounds: ROUNDS,
      rates: list('BENCH_E2E_RATES', '1000,5000', '200'),
      seconds: num('BENCH_E2E_SECONDS', 10, 1),
      readers: num('BENCH_E2E_READERS', 10, 2),
      emulatorHost,
      cpuProfileDir: process.env.BENCH_E2E_CPU_PROF,
    });
  }
  if (sections.includes('sse')) {
    const { benchSse } = await import('./sse.js');
    results.sse = await benchSse({
      rounds: ROUNDS,
      clients: list('BENCH_SSE_CLIENTS', '1000,5000,10000', '20'),
      rate: num('BENCH_SSE_RATE', 10, 10),
      seconds: num('BENCH_SSE_SECONDS', 10, 1),
      kinds: process.env.BENCH_SSE_KINDS ? (process.env.BENCH_SSE_KINDS.split(',') as never) : undefined,
      cpuProfileDir: process.env.BENCH_SSE_CPU_PROF,
      stall:
        process.env.BENCH_SSE_STALL === '0'
          ? undefined
          : {
              clients: num('BENCH_SSE_STALL_CLIENTS', 10_000, 20),
              share: num('BENCH_SSE_STALL_SHARE', 0.1, 0.1),
              clientMaxBufferBytes: num('BENCH_SSE_STALL_LIMIT', 128 * 1024, 64 * 1024),
              seconds: num('BENCH_SSE_STALL_SECONDS', 60, 1),
              rounds: num('BENCH_SSE_STALL_ROUNDS', ROUNDS, 1),
            },
      saturation:
        process.env.BENCH_SSE_SATURATION === '0'
          ? undefined
          : {
              clients: num('BENCH_SSE_SATURATION_CLIENTS', 5_000, 10),
              rates: list('BENCH_SSE_SATURATION_RATES', '20,40,60,80,120,160', '10'),
              seconds: num('BENCH_SSE_SATURATION_SECONDS', 8, 1),
            },
    });
  }
  if (sections.includes('history')) {
    results.history = await pipeline.benchHistory({
      rows: num('BENCH_HISTORY_ROWS', 20_000, 200),
      seconds: num('BENCH_HISTORY_SECONDS', 10, 1),
      emulatorHost,
    });
  }
  // Prints its own figures; its results are not in the JSON.
  if (sections.includes('storm') && !SMOKE) await (await import('./tote-storm.js')).benchStorm(Math.min(ROUNDS, 3));
} finally {
  await emulator?.stop();
}
(results.machine as Record<string, unknown>).loadAverageAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
(results.machine as Record<string, unknown>).finishedAt = new Date().toISOString();

mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
console.log(`\nResults written to ${out}`);
if (process.env.BENCH_DOCS === '1') {
  writeDocsSection(`${root}docs/benchmarks.md`, renderResults(results));
  console.log('Results table written to docs/benchmarks.md');
}
// Client libraries (gRPC channels, keep-alive agents) can hold the loop open after their close().
process.exit(0);
