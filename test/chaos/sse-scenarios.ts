import type { Row, RunOptions, Scenario } from './scenarios.js';
import { rssSampler } from './parts.js';
import { feedEnvelope, lostAndDoubled, pubsubProject, sseInstance, Viewer, type SseInstance } from './sse-parts.js';
import { waitFor } from '../helpers/ports.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms)); // paces a feed; never used to wait for a result

function notRun(scenario: string, note: string): Row {
  return { scenario, sent: null, received: null, published: null, stored: null, deadLettered: null, lost: null, duplicated: null, peakRssMb: null, note };
}

const received = (i: SseInstance) => (i.sse.status() as { eventsReceived: number }).eventsReceived;
const reorderOf = (i: SseInstance) =>
  (i.sse.status() as { reorder?: { late: number; forced: number; holding: number } }).reorder ?? { late: 0, forced: 0, holding: 0 };

/**
 * Two SSE instances on the emulator, each with its own subscriptions, each
 * seeing one type `skewMs` later than the other does (so their arrival
 * orders differ across ordering keys). One browser streams, is cut every
 * few events, and resumes by Last-Event-ID on the other instance, back and
 * forth, while the feed runs.
 */
export async function crossInstanceResume(o: RunOptions, opts: { events: number; skewMs: number; reorderWindowMs: number }): Promise<Row & { resyncs: number; hops: number }> {
  const name = 'stream resumes on another SSE instance';
  const p = await pubsubProject(o.emulatorHost);
  const rss = rssSampler();
  const a = await sseInstance(p, 'chaos-a', { reorderWindowMs: opts.reorderWindowMs, skew: { delayMs: opts.skewMs, types: ['PoolTotalChanged'] } });
  const b = await sseInstance(p, 'chaos-b', { reorderWindowMs: opts.reorderWindowMs, skew: { delayMs: opts.skewMs, types: ['EventStatusChanged'] } });
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
    await waitFor(() => received(a) >= published.length && received(b) >= published.length && reorderOf(a).holding === 0 && reorderOf(b).holding === 0, {
      timeoutMs: 60_000,
      what: 'every message on both instances',
    }).catch(() => undefined);
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
      note: `${hops} hops between 2 instances, ${opts.skewMs} ms skew, reorder window ${opts.reorderWindowMs} ms; ${viewer.resyncs} resyncs; ${late} late`,
      resyncs: viewer.resyncs,
      hops,
    };
  } finally {
    rss.stop();
    viewer.close();
    await a.close();
    await b.close();
    await p.close();
  }
}

export const crossInstance: Scenario = {
  name: 'stream resumes on another SSE instance',
  short: true,
  async run(o) {
    if (!o.emulatorHost) return notRun(this.name, 'no Pub/Sub emulator');
    return crossInstanceResume(o, { events: o.full ? 3_000 : 300, skewMs: 300, reorderWindowMs: 1_000 });
  },
};
