import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { entryForMessageType } from '../src/catalog/catalog.js';
import { extractKeys, makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { createLogger } from '../src/log/logger.js';
import { loadConfig } from '../src/config/index.js';
import { StreamAccess } from '../src/sse/access.js';
import { eventsRoute } from '../src/sse/events-route.js';
import { History } from '../src/sse/history.js';
import { Hub } from '../src/sse/hub.js';
import { KernelSendQueues, socketKey } from '../src/sse/send-queues.js';
import { SnapshotState } from '../src/sse/snapshot.js';
import { waitFor } from './helpers/ports.js';
import { openStream, type SseStream } from './helpers/sse-stream.js';

const ORIGIN = { source: 'test', protocol: 'graphql-ws' as const, connectionId: 'c1', instanceId: 'i1' };
const log = createLogger({ test: 'sse-stalled' });
const onLinux = process.platform === 'linux' && new KernelSendQueues().isAvailable;

function envelope(payload: Record<string, unknown>): Envelope {
  const entry = entryForMessageType('LinesChanged')!;
  const keys = extractKeys(entry, payload);
  if (!keys.ok) throw new Error('test payload misses keys');
  return makeEnvelope(entry, payload, keys.keys, ORIGIN);
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A hub on a plain node:http server; stall checks run only when the test calls them. */
async function start(maxBufferBytes: number) {
  const hub = new Hub({
    heartbeatMs: 600_000,
    retryMs: 1000,
    maxConnectionMs: 0,
    maxConnections: 100,
    clientLimits: { maxBufferBytes, maxPendingEvents: 1_000_000 },
    history: new History(10_000, 64 * 1024 * 1024),
    snapshot: new SnapshotState({ maxProducts: 100, maxEvents: 100, maxChildren: 100, maxAgeMs: 3_600_000 }),
    log,
    stallCheckMs: 3_600_000,
  });
  const route = eventsRoute({ hub, corsOrigins: [], log, access: new StreamAccess(loadConfig({}).sse.access, log) });
  const server: Server = createServer((req, res) => {
    if (!route(req, res)) res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  cleanups.push(async () => {
    hub.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { hub, port, url: `http://127.0.0.1:${port}` };
}

/** A client that sends its request and never reads: paused before it connects. */
async function stalledReader(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.pause();
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
  cleanups.push(() => void socket.destroy());
  return socket;
}

async function reader(url: string): Promise<SseStream> {
  const s = await openStream(`${url}/events`);
  cleanups.push(() => s.close());
  return s;
}

/**
 * Publishes `count` events of about `bytes` each, letting the reading client
 * keep up, so every byte for the stalled one leaves Node for the kernel.
 */
async function publish(hub: Hub, fast: SseStream, count: number, bytes: number): Promise<void> {
  const blob = 'x'.repeat(bytes);
  const before = fast.events.length;
  for (let i = 0; i < count; i++) {
    hub.ingest(envelope({ productId: 'p1', blob, i }));
    await waitFor(() => fast.events.length > before + i, { what: `reader to get event ${i}` });
  }
}

/** A hub with one reading client and one raw socket that has not read yet. */
async function readerAndStalled(bound: number) {
  const { hub, port, url } = await start(bound);
  const fast = await reader(url);
  const stalled = await stalledReader(port);
  await waitFor(() => hub.connections === 2, { what: 'both streams registered' });
  return { hub, fast, stalled };
}

describe.skipIf(!onLinux)('readers that stop reading', () => {
  it('cuts a stalled reader whose bytes sit unread in the kernel, well before Node sees backpressure, and keeps the others streaming', async () => {
    const { hub, fast, stalled } = await readerAndStalled(64 * 1024);
    // 1 MB to each client: far past the bound, far below what a loopback socket's
    // kernel buffers take (about 2.9 MB) before write() refuses anything.
    await publish(hub, fast, 250, 4096);
    expect(hub.counts.droppedSlowClients).toBe(0);

    await waitFor(async () => (await hub.checkStalls()) === 1 || hub.counts.droppedStalledClients === 1, {
      what: 'the stalled reader to be cut',
    });
    expect(hub.connections).toBe(1);
    expect(hub.counts.droppedSlowClients).toBe(1);

    // Reset, not closed: what the server's kernel held for it is dropped at once rather than left
    // in an orphaned socket, so the client reads only what had already reached it, not the 1 MB.
    let read = 0;
    let closed = false;
    stalled.on('data', (b: Buffer) => (read += b.length));
    stalled.on('close', () => (closed = true));
    stalled.resume();
    await waitFor(() => closed, { what: 'the stalled socket to close' });
    expect(read).toBeLessThan(1_000_000);

    await publish(hub, fast, 5, 100);
    expect(fast.ended).toBe(false);
    expect(fast.events).toHaveLength(255);
  });

  it('keeps a reader that is behind but reading: its kernel backlog shrank since the last check', async () => {
    const { hub, fast, stalled: late } = await readerAndStalled(64 * 1024);
    await publish(hub, fast, 250, 4096);
    // First look: far over the bound, but there is nothing yet to compare its progress with.
    expect(await hub.checkStalls()).toBe(0);

    let read = 0;
    late.on('data', (b: Buffer) => (read += b.length));
    late.resume();
    await waitFor(() => read > 1_000_000, { what: 'the late reader to catch up' });
    expect(await hub.checkStalls()).toBe(0);
    expect(hub.connections).toBe(2);
    expect(hub.counts.droppedSlowClients).toBe(0);
  });

  it('leaves streams alone while they stay within the bound', async () => {
    const { hub, fast } = await readerAndStalled(4 * 1024 * 1024);
    await publish(hub, fast, 100, 4096);
    expect(await hub.checkStalls()).toBe(0);
    expect(await hub.checkStalls()).toBe(0);
    expect(hub.connections).toBe(2);
  });
});

describe('kernel send queues', () => {
  it('reads the unacknowledged bytes of established sockets on the given local port, IPv4 and IPv6', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'send-queues-'));
    try {
      const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
      const tcp =
        header +
        // Ours (local port 0x1F90 = 8080), established, 0x4000 bytes unacknowledged.
        '   0: 0100007F:1F90 0100007F:D2F4 01 00004000:00000000 00:00000000 00000000  1000        0 1 1 0 20 4 30 10 -1\n' +
        // Ours but listening: not a stream.
        '   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 20 4 30 10 -1\n' +
        // Another port's socket.
        '   2: 0100007F:D2F4 0100007F:1F90 01 00000100:00000000 00:00000000 00000000  1000        0 3 1 0 20 4 30 10 -1\n';
      const tcp6 =
        header +
        '   0: 00000000000000000000000000000000:1F90 0000000000000000FFFF00000200000A:C350 01 00000010:00000000 00:00000000 00000000 1000 0 4 1 0 20 4 30 10 -1\n';
      writeFileSync(join(dir, 'tcp'), tcp);
      writeFileSync(join(dir, 'tcp6'), tcp6);
      const queues = await new KernelSendQueues([join(dir, 'tcp'), join(dir, 'tcp6'), join(dir, 'missing')]).read(new Set([8080]));
      expect(queues).not.toBeNull();
      expect([...queues!]).toHaveLength(2);
      expect(queues!.get(socketKey('127.0.0.1', 0xd2f4)!)).toBe(0x4000);
      expect(queues!.get(socketKey('::ffff:10.0.0.2', 50000)!)).toBe(0x10);
      expect(socketKey('::1', 1)).toBe('00000000000000000000000001000000:0001');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Turns of an event loop kept busy (2 ms of work a turn) while `work` runs. */
  async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
    let turns = 0;
    let done = false;
    const spin = () => {
      if (done) return;
      turns++;
      const until = performance.now() + 2;
      while (performance.now() < until);
      setImmediate(spin);
    };
    setImmediate(spin);
    try {
      await work();
    } finally {
      done = true;
    }
    return turns;
  }

  it.skipIf(!onLinux)(
    'reads the tables without waiting on a busy event loop, where a read on the thread pool takes a turn per page',
    async () => {
      // Enough sockets that the table spans many 4 KiB pages (the kernel hands out one per read call).
      const server = createServer().listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as AddressInfo).port;
      const sockets: Socket[] = [];
      try {
        for (let i = 0; i < 1500; i++) {
          const s = connect(port, '127.0.0.1');
          s.on('error', () => undefined);
          sockets.push(s);
        }
        await Promise.all(sockets.map((s) => once(s, 'connect')));
        const queues = new KernelSendQueues();
        cleanups.push(() => queues.close());
        await queues.read(new Set([port])); // the reading thread started
        const pages = (await readFile('/proc/self/net/tcp', 'latin1')).length / 4096;
        expect(pages).toBeGreaterThan(50);
        const onPool = await turnsDuring(() => readFile('/proc/self/net/tcp', 'latin1'));
        let read: Map<string, number> | null = null;
        const onThread = await turnsDuring(async () => (read = await queues.read(new Set([port]))));
        expect(read!.size).toBeGreaterThanOrEqual(1500);
        // The reference pays at least a turn per page; the reading thread is not held back by the loop.
        expect(onPool).toBeGreaterThan(pages * 0.8);
        expect(onThread).toBeLessThan(onPool / 4);
      } finally {
        for (const s of sockets) s.destroy();
        server.close();
      }
    },
  );

  it('answers null where the kernel tables cannot be read, so only the bound Node counts applies', async () => {
    const q = new KernelSendQueues(['/nonexistent/tcp']);
    expect(await q.read(new Set([1]))).toBeNull();
    expect(q.isAvailable).toBe(false);
  });
});
