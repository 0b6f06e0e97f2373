/**
 * One end-to-end run, printing each second what the SSE service and the
 * publisher report, with CPU profiles of the path (the frame sender and the
 * SSE readers run in their own processes, as in the benchmark):
 *
 *   node --import tsx bench/profile-e2e.ts emulator [rate] [seconds] [readers] [profile dir]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-e2e.ts memory [rate] [seconds] [readers]
 *   npx tsx bench/profile-summary.ts <a profile>
 *
 * Through the emulator the subscriber and the SSE service are their own
 * processes; each writes its profile under <profile dir>/subscriber-<rate>
 * and <profile dir>/sse-<rate> (default /tmp/prof-e2e). In process the
 * whole path is this process. The emulator mode starts its own Pub/Sub
 * emulator unless PUBSUB_EMULATOR_HOST is set.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setLogLevel } from '../src/log/logger.js';
import { startPubsubEmulator } from '../test/helpers/pubsub-emulator.js';
import { e2eOnce, type E2eOptions } from './pipeline.js';

setLogLevel('ERROR');
const mode = (process.argv[2] ?? 'emulator') as 'emulator' | 'memory';
if (mode !== 'emulator' && mode !== 'memory') throw new Error(`mode must be emulator or memory, got "${String(mode)}"`);
const rate = Number(process.argv[3] ?? 1_000);
const seconds = Number(process.argv[4] ?? 10);
const readers = Number(process.argv[5] ?? 10);
const cpuProfileDir = mode === 'emulator' ? (process.argv[6] ?? '/tmp/prof-e2e') : undefined;
const emulator = mode === 'emulator' && !process.env.PUBSUB_EMULATOR_HOST ? await startPubsubEmulator('bench') : null;
const host = process.env.PUBSUB_EMULATOR_HOST || emulator?.host || null;
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
try {
  const onSecond: E2eOptions['onSecond'] = ({ sse, published, publishLatency, loopDelayMaxMs }) => {
    const source = sse.source as {
      lag?: { p50Ms: number | null; p99Ms: number | null };
      outstanding?: number;
      delivered?: number;
      subscriptions?: { topic: string; received: number; outstanding: number; outstandingPeak: number }[];
    };
    const busiest = source.subscriptions?.reduce((a, b) => (b.received > a.received ? b : a));
    console.log(
      JSON.stringify({
        published,
        consumed: source.delivered,
        loopDelayMaxMs: loopDelayMaxMs ?? Math.round(loop.max / 1e6),
        publishMs: publishLatency,
        consumerLagMs: source.lag,
        outstanding: source.outstanding,
        busiest: busiest && { topic: busiest.topic, outstanding: busiest.outstanding, peak: busiest.outstandingPeak },
        streamed: sse.eventsReceived,
        lagMs: sse.lagMs,
        reorder: sse.reorder,
        droppedSlowClients: sse.droppedSlowClients,
      }),
    );
    loop.reset();
  };
  const r = await e2eOnce(mode, rate, seconds, readers, host, { onSecond, cpuProfileDir });
  console.log(JSON.stringify(r));
} finally {
  await emulator?.stop();
}
process.exit(0);
