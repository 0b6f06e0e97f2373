import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { entryForMessageType } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import type { SseConfig } from '../src/config/sse.js';
import { extractKeys, makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import { waitFor } from './helpers/ports.js';
import { openStream, SseStream } from './helpers/sse-stream.js';

const ORIGIN = { source: 'test', protocol: 'graphql-ws' as const, connectionId: 'c1', instanceId: 'i1' };
const quiet = createLogger({ test: 'sse' });
const logLines: string[] = [];
setLogWriter((line) => {
  logLines.push(line);
  if (logLines.length > 2000) logLines.splice(0, 1000);
});

function envelope(type: string, payload: Record<string, unknown>, at = new Date()): Envelope {
  const entry = entryForMessageType(type)!;
  const keys = extractKeys(entry, payload);
  if (!keys.ok) throw new Error('test payload misses keys');
  return makeEnvelope(entry, payload, keys.keys, ORIGIN, at);
}

const pool = (productId: string, gross: number) =>
  envelope('PoolTotalChanged', {
    productId,
    isFinalized: false,
    total: {
      grossAmounts: [{ decimalAmount: gross, currency: { code: 'GBP' } }],
      netAmounts: [{ decimalAmount: Math.round(gross * 74) / 100, currency: { code: 'GBP' } }],
    },
  });

const running: { sse: SseService; bus: MemoryBus }[] = [];

async function start(overrides: Partial<SseConfig> = {}) {
  const base = loadConfig({}).sse;
  const config: SseConfig = { ...base, port: 0, host: '127.0.0.1', statsLogMs: 60_000, ...overrides };
  const bus = new MemoryBus();
  const sse = await startSseService({ config, source: bus, log: quiet });
  running.push({ sse, bus });
  const publish = async (...es: Envelope[]) => {
    for (const e of es) await bus.publish(e);
  };
  const status = async () => (await fetch(`${sse.url}/status`)).json() as Promise<Record<string, any>>;
  return { sse, bus, publish, status, url: sse.url };
}

const streams: SseStream[] = [];
async function stream(url: string, headers: Record<string, string> = {}) {
  const s = await openStream(url, headers);
  streams.push(s);
  return s;
}

afterEach(async () => {
  vi.useRealTimers();
  for (const s of streams.splice(0)) s.close();
  for (const r of running.splice(0)) await r.sse.close();
});

describe('GET /events framing', () => {
  it('streams each envelope as one SSE event: id = envelope id, event = message type, data = envelope JSON', async () => {
    const { url, publish } = await start({ retryMs: 1500 });
    const s = await stream(`${url}/events`);
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(s.headers['cache-control']).toContain('no-cache');
    expect(s.headers['cache-control']).toContain('no-transform');
    expect(s.headers['x-accel-buffering']).toBe('no');
    expect(s.headers['content-encoding']).toBeUndefined();
    expect(s.headers['content-length']).toBeUndefined();
    expect(s.raw.startsWith('retry: 1500\n')).toBe(true);
    expect(s.retry).toBe(1500);

    const e = pool('prod-1', 1234.5);
    const st = envelope('EventStatusChanged', { eventId: 'ev-1', status: 'STARTED' });
    await publish(e, st);
    await s.waitForEvents(2);
    const [first, second] = s.events;
    expect(first!.id).toBe(e.id);
    expect(first!.event).toBe('PoolTotalChanged');
    const data = JSON.parse(first!.data);
    expect(data).toMatchObject({ id: e.id, type: 'PoolTotalChanged', receivedAt: e.receivedAt, keys: { productId: 'prod-1' } });
    expect(data.payload).toEqual(e.payload);
    expect(data.connectionId).toBeUndefined();
    expect(second).toMatchObject({ id: st.id, event: 'EventStatusChanged' });
    // Exact bytes of one frame: three fields, one line each, blank line after.
    expect(s.raw).toContain(`id: ${e.id}\nevent: PoolTotalChanged\ndata: {`);
    expect(s.raw.endsWith('}\n\n')).toBe(true);
  });

  it('keeps payload strings with newlines inside one data line', async () => {
    const { url, publish } = await start();
    const s = await stream(`${url}/events`);
    const e = envelope('BetRejected', { betId: 'b1', reason: 'line one\nline two\r\ndata: injected' });
    await publish(e);
    await s.waitForEvents(1);
    expect(s.events).toHaveLength(1);
    expect(JSON.parse(s.events[0]!.data).payload.reason).toBe('line one\nline two\r\ndata: injected');
  });

  it('refuses envelopes whose id or type would break SSE framing, and keeps streaming the good ones', async () => {
    const { url, publish, status } = await start();
    const s = await stream(`${url}/events`);
    const good = pool('p1', 10);
    const badType = { ...pool('p1', 11), type: 'PoolTotalChanged\r\nevent: Forged' };
    const badId = { ...pool('p1', 12), id: 'x\nid: forged' };
    const nulId = { ...pool('p1', 13), id: 'abc\0' };
    await publish(badType, badId, nulId, good);
    await s.waitForEvents(1);
    const st = await status();
    expect(st.rejected).toBe(3);
    expect(s.events).toHaveLength(1);
    expect(s.events[0]!.id).toBe(good.id);
    expect(s.raw).not.toContain('Forged');
    expect(s.raw).not.toContain('forged');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/sse_rejected_events_total\{reason="framing"\} 3/);
  });
});

describe('filters', () => {
  it('sends each client only the types, products and events it asked for', async () => {
    const { url, publish } = await start();
    const all = await stream(`${url}/events`);
    const pools = await stream(`${url}/events?types=PoolTotalChanged`);
    const twoProducts = await stream(`${url}/events?productId=p1&productId=p2`);
    const race = await stream(`${url}/events?eventId=ev-9&productId=p3&types=ProductStatusChanged,EventStatusChanged`);

    const msgs = [
      pool('p1', 1),
      pool('p2', 2),
      pool('p3', 3),
      envelope('ProductStatusChanged', { productId: 'p3', status: 'CLOSED' }),
      envelope('ProductStatusChanged', { productId: 'p4', status: 'CLOSED' }),
      envelope('EventStatusChanged', { eventId: 'ev-9', status: 'STARTED' }),
      envelope('EventStatusChanged', { eventId: 'ev-8', status: 'STARTED' }),
      envelope('BetAccepted', { betId: 'b1' }),
    ];
    await publish(...msgs);
    await all.waitForEvents(msgs.length);
    const idsOf = (...ix: number[]) => ix.map((i) => msgs[i]!.id);
    await waitFor(() => pools.events.length >= 3 && twoProducts.events.length >= 2 && race.events.length >= 2);
    // One more message that matches every filter proves nothing else was still on its way.
    const last = pool('p1', 9);
    const raceMarker = envelope('ProductStatusChanged', { productId: 'p3', status: 'OPEN' });
    await publish(last, raceMarker);
    await waitFor(() => [all, pools, twoProducts].every((s) => s.ids.includes(last.id)) && race.ids.includes(raceMarker.id));
    await waitFor(() => all.ids.includes(raceMarker.id));
    expect(all.ids).toEqual([...msgs.map((m) => m.id), last.id, raceMarker.id]);
    expect(pools.ids).toEqual([...idsOf(0, 1, 2), last.id]);
    expect(twoProducts.ids).toEqual([...idsOf(0, 1), last.id]);
    expect(race.ids).toEqual([...idsOf(3, 5), raceMarker.id]);
  });

  it('answers a HEAD probe with the stream headers without counting a viewer', async () => {
    const { url, status } = await start();
    const res = await fetch(`${url}/events`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect((await status()).connectionsOpened).toBe(0);
  });

  it('answers 400 naming the problem for an unknown type', async () => {
    const { url } = await start();
    const res = await fetch(`${url}/events?types=PoolTotalChanged,PoolTotalChnged`);
    expect(res.status).toBe(400);
    expect((await res.json()).error).toContain('PoolTotalChnged');
  });
});

describe('resume', () => {
  it('replays what was missed after Last-Event-ID, then continues live', async () => {
    const { url, publish } = await start();
    const first = await stream(`${url}/events`);
    const before = [pool('p1', 1), pool('p1', 2), pool('p2', 3)];
    await publish(...before);
    await first.waitForEvents(3);
    first.close();
    const missed = [pool('p1', 4), envelope('ProductStatusChanged', { productId: 'p1', status: 'CLOSED' })];
    await publish(...missed);
    const again = await stream(`${url}/events`, { 'Last-Event-ID': first.lastEventId! });
    await again.waitForEvents(2);
    const live = pool('p1', 5);
    await publish(live);
    await again.waitForEvents(3);
    expect(again.ids).toEqual([...missed.map((m) => m.id), live.id]);
  });

  it('resumes from the lastEventId query parameter on a first request, with filters applied to the replay', async () => {
    const { url, publish } = await start();
    const a = pool('p1', 1);
    const rest = [pool('p2', 2), pool('p1', 3), envelope('ProductStatusChanged', { productId: 'p1', status: 'OPEN' })];
    await publish(a, ...rest);
    const s = await stream(`${url}/events?lastEventId=${a.id}&productId=p1`);
    await s.waitForEvents(2);
    expect(s.ids).toEqual([rest[1]!.id, rest[2]!.id]);
  });

  it('prefers the Last-Event-ID header over a stale lastEventId left in the URL', async () => {
    const { url, publish } = await start();
    const msgs = [pool('p1', 1), pool('p1', 2), pool('p1', 3)];
    await publish(...msgs);
    const s = await stream(`${url}/events?lastEventId=${msgs[0]!.id}`, { 'Last-Event-ID': msgs[1]!.id });
    await s.waitForEvents(1);
    const live = pool('p1', 4);
    await publish(live);
    await s.waitForEvents(2);
    expect(s.ids).toEqual([msgs[2]!.id, live.id]);
  });

  it('tells a client whose id has left the history to resync from /snapshot, then streams live', async () => {
    const { url, publish } = await start({ historyMaxEvents: 5 });
    const msgs = Array.from({ length: 10 }, (_, i) => pool('p1', i));
    await publish(...msgs);
    const s = await stream(`${url}/events`, { 'Last-Event-ID': msgs[2]!.id });
    await s.waitForEvents(1);
    expect(s.events[0]!.event).toBe('resync');
    // The newest id held, so EventSource's next reconnect does not resend the stale one.
    expect(s.events[0]!.id).toBe(msgs[9]!.id);
    const info = JSON.parse(s.events[0]!.data);
    expect(info).toMatchObject({ reason: 'too-old', lastEventId: msgs[2]!.id, oldestEventId: msgs[5]!.id, snapshot: '/snapshot' });
    const live = pool('p1', 99);
    await publish(live);
    await s.waitForEvents(2);
    expect(s.events[1]!.id).toBe(live.id);

    const garbage = await stream(`${url}/events`, { 'Last-Event-ID': 'not-an-id' });
    await garbage.waitForEvents(1);
    expect(garbage.events[0]!.event).toBe('resync');
    expect(JSON.parse(garbage.events[0]!.data).reason).toBe('unknown-id');
  });

  it('answers too-old for an id stamped before the instance had every message, and resumes one stamped after', async () => {
    const { url, publish } = await start();
    const startedAt = Date.now();
    // UUIDv7 ids stamped at a given instant (uuidv7() itself never goes back in time within a process).
    const idAt = (ms: number, n: number) =>
      `${ms
        .toString(16)
        .padStart(12, '0')
        .replace(/^(.{8})/, '$1-')}-7000-8000-${String(n).padStart(12, '0')}`;
    // A backlog stamped before the instance started (it arrives now), then the live feed.
    const backlog = { ...pool('p1', 1), id: idAt(startedAt - 5_000, 1) };
    const live = [2, 3].map((n) => envelope('EventStatusChanged', { eventId: 'e1', status: `S${n}` }, new Date(startedAt + 10 * n)));
    await publish(backlog, ...live);
    // Not held, newer than the oldest held, but stamped before this instance was complete: it may have missed messages.
    const before = await stream(`${url}/events`, { 'Last-Event-ID': idAt(startedAt - 3_000, 2) });
    await before.waitForEvents(1);
    expect(before.events[0]!.event).toBe('resync');
    expect(JSON.parse(before.events[0]!.data).reason).toBe('too-old');
    // Not held but stamped after the start: everything later is here.
    const after = await stream(`${url}/events`, { 'Last-Event-ID': idAt(startedAt + 1, 3) });
    await after.waitForEvents(2);
    expect(after.ids).toEqual(live.map((e) => e.id));
  });

  it('resumes across server-side cuts at the stream lifetime without losing an event', async () => {
    const { url, publish } = await start({ maxConnectionMs: 500 });
    let s = await stream(`${url}/events`);
    const sent: string[] = [];
    const seen: string[] = [];
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const e = pool('p1', sent.length);
        sent.push(e.id);
        await publish(e);
      }
    };
    for (let round = 0; round < 3; round++) {
      await send(5);
      await s.waitForEnd();
      seen.push(...s.ids);
      await send(3); // published while the browser is reconnecting
      s = await stream(`${url}/events`, { 'Last-Event-ID': s.lastEventId! });
    }
    await send(2);
    await waitFor(() => s.ids.includes(sent.at(-1)!));
    seen.push(...s.ids);
    expect(seen).toEqual(sent);
  });
});

describe('heartbeat', () => {
  it('sends a comment every heartbeat interval, and not before', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { url, publish } = await start({ heartbeatMs: 15_000 });
    const s = await stream(`${url}/events`);
    const initialComments = s.comments.length;
    vi.advanceTimersByTime(14_999);
    // Anything written before this event would arrive before it on the same socket.
    const marker = pool('p1', 1);
    await publish(marker);
    await s.waitForEvents(1);
    expect(s.comments.length).toBe(initialComments);
    vi.advanceTimersByTime(1);
    await waitFor(() => s.comments.length > initialComments, { what: 'heartbeat' });
    expect(s.comments.at(-1)).toBe('keep-alive');
    vi.advanceTimersByTime(15_000);
    await waitFor(() => s.comments.length > initialComments + 1, { what: 'second heartbeat' });
    expect(s.raw).toMatch(/: keep-alive\n\n$/);
  });
});

describe('slow clients', () => {
  it('disconnects a client that stops reading once its backlog passes the bound, while others keep receiving', async () => {
    const { url, publish, status } = await start({
      clientMaxBufferBytes: 256 * 1024,
      clientMaxPendingEvents: 100_000,
      historyMaxBytes: 4 * 1024 * 1024,
    });
    const slow = await stream(`${url}/events`);
    const fast = await stream(`${url}/events`);
    slow.pause();
    const blob = 'x'.repeat(32 * 1024);
    const sent: string[] = [];
    // ~32 MB in total: far more than the loopback socket buffers plus the 256 KiB bound.
    for (let i = 0; i < 1000; i++) {
      const e = envelope('LinesChanged', { productId: 'p1', blob, i });
      sent.push(e.id);
      await publish(e);
      if (i % 50 === 49) await waitFor(() => fast.events.length >= i - 10, { what: 'fast client to keep up' });
    }
    await fast.waitForEvents(1000, 20_000);
    expect(fast.ids).toEqual(sent);
    const st = await waitFor(async () => {
      const x = await status();
      return x.droppedSlowClients === 1 ? x : null;
    });
    expect(st.connections).toBe(1);
    slow.res.resume();
    await slow.waitForEnd();
    expect(slow.ids.length).toBeLessThan(1000);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/sse_dropped_slow_clients_total 1/);
  });
});

describe('clean-up', () => {
  it('returns the connection count to zero after clients leave by abort, socket reset, lifetime and shutdown', async () => {
    const { url, publish, status, sse, bus } = await start({ maxConnectionMs: 600, clientMaxPendingEvents: 5 });
    const baseline = bus.stats().listeners;
    const batch = await Promise.all(Array.from({ length: 40 }, () => SseStream.open(`${url}/events`)));
    streams.push(...batch);
    await waitFor(async () => (await status()).connections === 40);
    // Client-side aborts, socket resets, and the rest end at their lifetime or are dropped as slow.
    for (const s of batch.slice(0, 10)) s.close();
    for (const s of batch.slice(10, 20)) s.req.socket?.destroy();
    for (const s of batch.slice(20, 30)) s.pause();
    for (let i = 0; i < 50; i++) await publish(pool('p1', i));
    await waitFor(async () => (await status()).connections === 0, { what: 'all connections gone' });
    const again = await Promise.all(Array.from({ length: 10 }, () => openStream(`${url}/events`)));
    streams.push(...again);
    await waitFor(async () => (await status()).connections === 10);
    expect(sse.endStreams()).toBe(10);
    await waitFor(async () => (await status()).connections === 0);
    expect(bus.stats().listeners).toBe(baseline);
  });

  it('closes the sockets of streams ended while their clients had stopped reading, not only the count', async () => {
    const { url, publish, status, sse } = await start({ clientMaxBufferBytes: 64 * 1024 * 1024, clientMaxPendingEvents: 100_000 });
    await status();
    const socketsBefore = await sse.openSockets();
    const stalled = await Promise.all(Array.from({ length: 3 }, () => stream(`${url}/events`)));
    for (const s of stalled) s.pause();
    const blob = 'x'.repeat(64 * 1024);
    // ~13 MB each: past what the loopback socket buffers take, below the per-client bound, so they stay blocked.
    for (let i = 0; i < 200; i++) await publish(envelope('LinesChanged', { productId: 'p1', blob, i }));
    await waitFor(async () => (await status()).connections === 3);
    expect(await sse.openSockets()).toBeGreaterThanOrEqual(socketsBefore + 3);
    expect(sse.endStreams()).toBe(3);
    await waitFor(async () => (await sse.openSockets()) <= socketsBefore, { what: 'stalled sockets closed' });
    expect((await status()).connections).toBe(0);
  });
});

describe('snapshot, status, health, metrics, CORS', () => {
  it('serves the latest state per entity and the id to stream on from', async () => {
    const { url, publish } = await start();
    // Ids are made in time order; the older total is published last, as a late redelivery would be.
    const older = pool('p1', 100);
    const newer = pool('p1', 250);
    await publish(
      envelope('ProductStatusChanged', { productId: 'p1', status: 'OPEN' }),
      newer,
      envelope('SelectionStatusChanged', { productId: 'p1', legId: 'l1', selectionId: 's1', status: 'NOT_AVAILABLE' }),
      envelope('EventStatusChanged', { eventId: 'ev1', status: 'FINISHED' }),
      envelope('EventResultChanged', {
        eventId: 'ev1',
        competitorResults: [{ competitorId: 'c1', finishingPosition: '1', status: 'FINAL' }],
      }),
      envelope('PoolDividendChanged', { productId: 'p1', dividends: [{ dividend: { name: 'WIN', status: 'FINAL' } }] }),
      envelope('CompetitorStatusChanged', { eventId: 'ev1', competitorId: 'c7', status: 'WITHDRAWN' }),
      { ...pool('p2', 5), test: true },
    );
    // A late older total must not overwrite the newer one.
    await publish(older, envelope('EventStatusChanged', { eventId: 'ev2', status: 'SCHEDULED' }));
    const snap = await (await fetch(`${url}/snapshot`)).json();
    expect(snap.products.p1.status.payload.status).toBe('OPEN');
    expect(snap.products.p1.pool.id).toBe(newer.id);
    expect(snap.products.p1.pool.payload.total.grossAmounts[0].decimalAmount).toBe(250);
    expect(snap.products.p1.selections.s1.payload.status).toBe('NOT_AVAILABLE');
    expect(snap.products.p1.dividends.payload.dividends[0].dividend.name).toBe('WIN');
    expect(snap.events.ev1.status.payload.status).toBe('FINISHED');
    expect(snap.events.ev1.result.payload.competitorResults[0].finishingPosition).toBe('1');
    expect(snap.events.ev1.competitors.c7.payload.status).toBe('WITHDRAWN');
    expect(snap.products.p2).toBeUndefined();
    expect(typeof snap.lastEventId).toBe('string');
    expect(snap.limits.maxProducts).toBeGreaterThan(0);

    // Streaming on from the snapshot's id gives exactly what came after it.
    const after = pool('p1', 300);
    await publish(after);
    const s = await stream(`${url}/events?lastEventId=${snap.lastEventId}`);
    await s.waitForEvents(1);
    expect(s.ids).toEqual([after.id]);
  });

  it('keeps history and snapshot within their limits, oldest first', async () => {
    const { url, publish, status } = await start({ historyMaxBytes: 4096, snapshotMaxProducts: 3 });
    const msgs = Array.from({ length: 20 }, (_, i) => pool(`p${i}`, i));
    await publish(...msgs);
    const st = await status();
    expect(st.history.bytes).toBeLessThanOrEqual(4096);
    expect(st.history.events).toBeLessThan(20);
    expect(st.history.newestId).toBe(msgs[19]!.id);
    const snap = await (await fetch(`${url}/snapshot`)).json();
    expect(Object.keys(snap.products)).toEqual(['p17', 'p18', 'p19']);
    const s = await stream(`${url}/events`, { 'Last-Event-ID': msgs[0]!.id });
    await s.waitForEvents(1);
    expect(s.events[0]!.event).toBe('resync');
  });

  it('reports connections, rates, lag and limits on /status and /metrics, and is healthy', async () => {
    const { url, publish, status } = await start();
    const s = await stream(`${url}/events`);
    await publish(pool('p1', 1), pool('p2', 2), envelope('EventStatusChanged', { eventId: 'e', status: 'STARTED' }));
    await s.waitForEvents(3);
    const st = await status();
    expect(st).toMatchObject({ service: 'sse', connections: 1, eventsReceived: 3, eventsSent: 3, droppedSlowClients: 0 });
    expect(st.ratesPerType.PoolTotalChanged.total).toBe(2);
    expect(st.ratesPerType.PoolTotalChanged.perSec).toBeGreaterThan(0);
    expect(st.lagMs.p50).toBeGreaterThanOrEqual(0);
    expect(st.history.events).toBe(3);
    expect(st.source).toMatchObject({ kind: 'memory', state: 'running' });
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^sse_connections 1$/m);
    expect(metrics).toMatch(/^sse_events_sent_total 3$/m);
    expect(metrics).toMatch(/sse_events_received_total\{type="PoolTotalChanged"\} 2/);
    expect(metrics).toMatch(/sse_consumer_lag_seconds_count 3/);
    // The in-process bus has one order: nothing waits in the reorder window.
    expect(metrics).toMatch(/^sse_reorder_holding 0$/m);
    expect(metrics).toMatch(/^sse_reorder_events_total\{outcome="held"\} 0$/m);
    expect(st.reorder).toMatchObject({ windowMs: 0, holding: 0, held: 0, inSequence: 0, gapWaits: 0, gapTimeouts: 0 });
  });

  it('allows only the configured origins to read cross-origin', async () => {
    const { url } = await start({ corsOrigins: ['https://ops.example.com'] });
    const ok = await fetch(`${url}/snapshot`, { headers: { Origin: 'https://ops.example.com' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
    const no = await fetch(`${url}/snapshot`, { headers: { Origin: 'https://evil.example.com' } });
    expect(no.headers.get('access-control-allow-origin')).toBeNull();
    const s = await stream(`${url}/events`, { Origin: 'https://ops.example.com' });
    expect(s.headers['access-control-allow-origin']).toBe('https://ops.example.com');
    // The stream's preflight and its refusals carry the same CORS answer, so a
    // browser on an allowed origin can read why it was refused.
    const pre = await fetch(`${url}/events`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://ops.example.com',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'last-event-id',
      },
    });
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
    const evilPre = await fetch(`${url}/events`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example.com', 'Access-Control-Request-Method': 'GET' },
    });
    expect(evilPre.headers.get('access-control-allow-origin')).toBeNull();
    const bad = await fetch(`${url}/events?types=NoSuchType`, { headers: { Origin: 'https://ops.example.com' } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
  });

  it('refuses streams past the connection limit with 503 and Retry-After', async () => {
    const { url } = await start({ maxConnections: 2 });
    await stream(`${url}/events`);
    await stream(`${url}/events`);
    const res = await fetch(`${url}/events`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  });

  it('logs one structured stats line per interval', async () => {
    const { url } = await start({ statsLogMs: 1_000 });
    await stream(`${url}/events`);
    const line = await waitFor(() => logLines.map((l) => JSON.parse(l)).find((l) => l.message === 'sse stats' && l.connections === 1), {
      what: 'stats line',
    });
    expect(line).toMatchObject({ connections: 1, droppedSlowClients: 0 });
    expect(line).toHaveProperty('lagP50Ms');
    expect(line).toHaveProperty('lagP99Ms');
  });
});
