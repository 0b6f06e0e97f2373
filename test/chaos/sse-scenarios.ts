import { MemoryBus } from '../../src/bus/memory-bus.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/logger.js';
import { startSseService } from '../../src/sse/index.js';
import type { Row, RunOptions, Scenario } from './scenarios.js';
import { rssSampler } from './parts.js';
import {
  feedEnvelope,
  lostAndDoubled,
  nonReader,
  pubsubProject,
  SequenceChecker,
  sseInstance,
  Viewer,
  type SseInstance,
} from './sse-parts.js';
import { waitFor } from '../helpers/ports.js';
import { notRun } from './rows.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms)); // paces a feed; never used to wait for a result

const received = (i: SseInstance) => (i.sse.status() as { eventsReceived: number }).eventsReceived;
const reorderOf = (i: SseInstance) =>
  (i.sse.status() as { reorder?: { late: number; forced: number; holding: number; inSequence?: number } }).reorder ?? {
    late: 0,
    forced: 0,
    holding: 0,
  };

/**
 * Two SSE instances on the emulator, each with its own subscriptions, each
 * seeing one type `skewMs` later than the other does (so their arrival
 * orders differ across ordering keys). One browser streams, is cut every
 * few events, and resumes by Last-Event-ID on the other instance, back and
 * forth, while the feed runs.
 */
export async function crossInstanceResume(
  o: RunOptions,
  opts: { events: number; skewMs: number; reorderWindowMs: number },
): Promise<Row & { resyncs: number; hops: number; inSequence: number }> {
  const name = 'stream resumes on another SSE instance';
  const p = await pubsubProject(o.emulatorHost);
  const rss = rssSampler();
  const a = await sseInstance(p, 'chaos-a', {
    reorderWindowMs: opts.reorderWindowMs,
    skew: { delayMs: opts.skewMs, types: ['PoolTotalChanged'] },
  });
  const b = await sseInstance(p, 'chaos-b', {
    reorderWindowMs: opts.reorderWindowMs,
    skew: { delayMs: opts.skewMs, types: ['EventStatusChanged'] },
  });
  const viewer = new Viewer();
  const published: string[] = [];
  try {
    const instances = [a, b];
    let on = 0;
    await viewer.open(instances[on]!.sse.url);
    let feeding = true;
    const feed = (async () => {
      for (let i = 0; i < opts.events; i++) {
        const e = feedEnvelope(i);
        published.push(e.id);
        await p.publisher.publish(e);
        if (i % 4 === 3) await pause(20);
      }
      feeding = false;
    })();
    let hops = 0;
    // Cut after a varying handful of events, so the cut falls at every kind of moment.
    while (feeding) {
      const after = 5 + (hops % 7) * 3;
      await waitFor(() => viewer.pending >= after || !feeding, { timeoutMs: 60_000, what: 'events on the open stream' });
      if (!feeding) break;
      viewer.close();
      on = 1 - on;
      hops++;
      await viewer.open(instances[on]!.sse.url);
    }
    await feed;
    // Everything published is on both instances and out of their reorder windows, then on the stream.
    await waitFor(
      () => received(a) >= published.length && received(b) >= published.length && reorderOf(a).holding === 0 && reorderOf(b).holding === 0,
      {
        timeoutMs: 60_000,
        what: 'every message on both instances',
      },
    ).catch(() => undefined);
    const last = new Set(published);
    await waitFor(
      () => {
        viewer.take();
        return viewer.got.filter((id) => last.has(id)).length >= published.length;
      },
      { timeoutMs: 10_000, what: 'the stream to catch up' },
    ).catch(() => undefined);
    viewer.close();
    const { lost, duplicated } = lostAndDoubled(published, viewer.got);
    const late = reorderOf(a).late + reorderOf(b).late;
    // Streamed by publish number without waiting out the window, on both instances together.
    const inSequence = (reorderOf(a).inSequence ?? 0) + (reorderOf(b).inSequence ?? 0);
    return {
      scenario: name,
      sent: published.length,
      received: Math.min(received(a), received(b)),
      published: published.length,
      stored: null,
      deadLettered: null,
      lost,
      duplicated,
      peakRssMb: rss.stop(),
      note: `${hops} hops between 2 instances, ${opts.skewMs} ms skew, reorder window ${opts.reorderWindowMs} ms; ${viewer.resyncs} resyncs; ${late} late; ${inSequence} streamed in sequence without the wait`,
      resyncs: viewer.resyncs,
      hops,
      inSequence,
    };
  } finally {
    rss.stop();
    viewer.close();
    await a.close();
    await b.close();
    await p.close();
  }
}

/** A scenario on the Pub/Sub emulator: reported as not run without one. */
const onEmulator = (name: string, run: (o: RunOptions) => Promise<Row>): Scenario => ({
  name,
  short: true,
  run: (o) => (o.emulatorHost ? run(o) : Promise.resolve(notRun(name, 'no Pub/Sub emulator'))),
});

export const crossInstance = onEmulator('stream resumes on another SSE instance', (o) =>
  crossInstanceResume(o, { events: o.full ? 3_000 : 300, skewMs: 300, reorderWindowMs: 1_000 }),
);

/**
 * One SSE instance with readers that stay connected, clients that connect
 * and disconnect all the time (each resuming by Last-Event-ID), and clients
 * that never read. Every reader and every churner must get every event once
 * from where it joined; every non-reader must be cut at its bound.
 */
export async function sseChurnRun(o: {
  readers: number;
  churners: number;
  nonReaders: number;
  events: number;
  perSecond: number;
  padBytes: number;
  clientMaxBufferBytes: number;
}): Promise<Row & { nonReadersCut: number; connects: number }> {
  const name = '1,000-client SSE churn + non-readers';
  const rss = rssSampler();
  const bus = new MemoryBus();
  const config = { ...loadConfig({}).sse, port: 0, host: '127.0.0.1', statsLogMs: 600_000, clientMaxBufferBytes: o.clientMaxBufferBytes };
  const sse = await startSseService({ config, source: bus, log: createLogger({ component: 'chaos-sse' }) });
  const indexOf = new Map<string, number>();
  const readers = Array.from({ length: o.readers }, () => new SequenceChecker(indexOf));
  const churners = Array.from({ length: o.churners }, () => new SequenceChecker(indexOf));
  const stuck: Awaited<ReturnType<typeof nonReader>>[] = [];
  let feeding = true;
  try {
    for (const r of readers) await r.connect(sse.url);
    for (let i = 0; i < o.nonReaders; i++) stuck.push(await nonReader(sse.url));
    // Each churner: a stream held a random 0.1-1.5 s, a pause of up to 0.3 s, again, until the feed ends.
    const churn = churners.map(async (c, n) => {
      await pause((n * 7) % 500);
      while (feeding) {
        await c.connect(sse.url).catch(() => undefined);
        await pause(100 + Math.random() * 1_400);
        c.close();
        await pause(Math.random() * 300);
      }
      await c.connect(sse.url);
    });
    const batch = Math.max(1, Math.round(o.perSecond / 20));
    for (let i = 0; i < o.events;) {
      for (let k = 0; k < batch && i < o.events; k++, i++) {
        const e = feedEnvelope(i, o.padBytes);
        indexOf.set(e.id, i);
        await bus.publish(e);
      }
      await pause(50);
    }
    feeding = false;
    await Promise.all(churn);
    const total = o.events;
    const viewers = [...readers, ...churners];
    await waitFor(() => viewers.every((v) => v.position === undefined || v.position >= total), {
      timeoutMs: 120_000,
      what: 'every viewer to reach the last event',
    }).catch(() => undefined);
    type Counts = { droppedSlowClients: number; droppedStalledClients: number; eventsReceived: number; connections: number };
    const counts = () => sse.status() as Counts;
    // A paused socket does not see its reset until it reads again: the server's count says who was cut.
    await waitFor(() => counts().droppedSlowClients >= o.nonReaders, { timeoutMs: 60_000, what: 'every non-reader cut' }).catch(
      () => undefined,
    );
    for (const v of viewers) v.settle(total);
    const st = counts();
    const cut = Math.min(o.nonReaders, st.droppedSlowClients);
    const joinedLate = viewers.filter((v) => v.connects === 0).length;
    return {
      scenario: name,
      sent: total,
      received: st.eventsReceived,
      published: total,
      stored: null,
      deadLettered: null,
      lost: viewers.reduce((n, v) => n + v.lost, 0),
      duplicated: viewers.reduce((n, v) => n + v.duplicated, 0),
      peakRssMb: rss.stop(),
      note: `${o.readers} readers + ${o.churners} churners (${churners.reduce((n, c) => n + c.connects, 0)} connects, ${viewers.reduce((n, v) => n + v.resyncs, 0)} resyncs${joinedLate ? `, ${joinedLate} never connected` : ''}); ${cut} of ${o.nonReaders} non-readers cut (${st.droppedStalledClients} of them by the kernel-queue check); ${st.droppedSlowClients - cut} readers cut as slow; RSS is clients and server together`,
      nonReadersCut: cut,
      connects: churners.reduce((n, c) => n + c.connects, 0),
    };
  } finally {
    feeding = false;
    rss.stop();
    for (const v of [...readers, ...churners]) v.close();
    for (const s of stuck) s.socket.destroy();
    await sse.close();
  }
}

export const sseChurn: Scenario = {
  name: '1,000-client SSE churn + non-readers',
  short: true,
  run: (o) =>
    sseChurnRun(
      o.full
        ? {
            readers: 100,
            churners: 1_000,
            nonReaders: 50,
            events: 6_000,
            perSecond: 200,
            padBytes: 1_200,
            clientMaxBufferBytes: 1024 * 1024,
          }
        : { readers: 30, churners: 300, nonReaders: 10, events: 1_500, perSecond: 150, padBytes: 500, clientMaxBufferBytes: 256 * 1024 },
    ),
};

/**
 * An SSE instance stops (SIGTERM: streams ended, subscriptions deleted)
 * while the feed runs, and a new one starts (Cloud Run gives it a new id,
 * so new subscriptions, sought back). Every browser reconnects to it with
 * its Last-Event-ID. Each must get every message once, or be told to resync
 * and then get every message from the moment the new instance is complete.
 */
export async function sseRestartRun(
  o: RunOptions,
  opts: { viewers: number; events: number },
): Promise<Row & { resyncs: number; exact: number }> {
  const name = 'SSE instance restart, resume';
  const p = await pubsubProject(o.emulatorHost, { SSE_SEEK_BACK_MS: String(3_600_000) });
  const rss = rssSampler();
  let instance = await sseInstance(p, 'chaos-r1');
  const viewers = Array.from({ length: opts.viewers }, () => new Viewer());
  const published: { id: string; at: number }[] = [];
  const cutAt: (string | undefined)[] = [];
  let completeSince = 0;
  try {
    for (const v of viewers) await v.open(instance.sse.url);
    for (let i = 0; i < opts.events; i++) {
      if (i === Math.floor(opts.events / 3)) {
        await instance.close();
        for (const v of viewers) {
          v.close();
          cutAt.push(v.lastEventId);
        }
      }
      const e = feedEnvelope(i);
      published.push({ id: e.id, at: Date.parse(e.receivedAt) });
      await p.publisher.publish(e);
      if (i === Math.floor(opts.events / 2)) {
        instance = await sseInstance(p, 'chaos-r2');
        completeSince = instance.consumer.completeSince();
        for (const v of viewers) await v.open(instance.sse.url);
      }
      if (i % 4 === 3) await pause(20);
    }
    const after = published.filter((m) => m.at >= completeSince).map((m) => m.id);
    await waitFor(
      () =>
        viewers.every((v) => {
          v.take();
          const got = new Set(v.got);
          return after.every((id) => got.has(id));
        }),
      { timeoutMs: 60_000, what: 'every viewer to have the feed since the new instance was complete' },
    ).catch(() => undefined);
    let lost = 0;
    let duplicated = 0;
    let resyncs = 0;
    let exact = 0;
    for (const [n, v] of viewers.entries()) {
      v.close();
      const cut = cutAt[n];
      // Owed: everything up to the id it left with, then everything, or after a resync everything from completeSince.
      const owed = v.resyncs > 0 ? published.filter((m) => (cut !== undefined && m.id <= cut) || m.at >= completeSince) : published;
      if (v.resyncs > 0) resyncs++;
      else exact++;
      const r = lostAndDoubled(
        owed.map((m) => m.id),
        v.got,
      );
      lost += r.lost;
      duplicated += r.duplicated;
    }
    return {
      scenario: name,
      sent: published.length,
      received: published.length,
      published: published.length,
      stored: null,
      deadLettered: null,
      lost,
      duplicated,
      peakRssMb: rss.stop(),
      note: `${opts.viewers} browsers reconnected to the new instance: ${exact} resumed, ${resyncs} told to resync (their id predates its subscriptions), none left silent`,
      resyncs,
      exact,
    };
  } finally {
    rss.stop();
    for (const v of viewers) v.close();
    await instance.close();
    await p.close();
  }
}

export const sseRestart = onEmulator('SSE instance restart, resume', (o) =>
  sseRestartRun(o, o.full ? { viewers: 100, events: 3_000 } : { viewers: 20, events: 300 }),
);
