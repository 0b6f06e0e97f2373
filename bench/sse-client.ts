/**
 * Load generator for the SSE benchmark, run in its own process so the
 * clients do not share the event loop of the server they measure.
 *
 *   node --import tsx bench/sse-client.ts <url> <connections> <eventsPerConnection> <graceMs> [stalled] [receivedAt|sentAt]
 *
 * `stalled` of the connections (default 0) are raw sockets that send the
 * request and never read a byte: what a frozen browser tab or a dead mobile
 * link looks like to the server. The rest read and are measured.
 *
 * Opens the connections (a bounded number of connects in flight), prints
 * `{"type":"ready",…}`, then counts events and the lag of each (arrival
 * minus the envelope's `receivedAt`, same machine clock). When a line
 * `stop` arrives on stdin (the publisher is done) it waits until every
 * stream has all its events or `graceMs` passes, prints
 * `{"type":"result",…}`, closes every socket and exits. It also exits if
 * stdin closes, so a dying parent leaves nothing behind.
 */
import { request, type ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';

const [url = '', connArg = '1000', eventsArg = '100', graceArg = '5000', stalledArg = '0', lagFrom = 'receivedAt'] = process.argv.slice(2);
const target = new URL(url);
if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') throw new Error(`loopback only, got ${target.hostname}`);
const STALLED = Number(stalledArg);
const CONNECTIONS = Number(connArg) - STALLED;
const EVENTS = Number(eventsArg);
const GRACE_MS = Number(graceArg);
/** Connects in flight at once: enough to open thousands in a second or two, few enough for the listen backlog (511). */
const CONNECT_CONCURRENCY = 200;

/**
 * Every event's JSON carries this once, followed by a 24-character ISO time:
 * the lag is from when the subscriber received the frame. With `sentAt` as
 * the last argument it is from the epoch-ms stamp the frame sender put in
 * the payload: end to end, from the frame being written.
 */
const FROM_SENT = lagFrom === 'sentAt';
const MARK = FROM_SENT ? '"sentAt":' : '"receivedAt":"';
const ISO_LENGTH = FROM_SENT ? 13 : 24;

/** Lag histogram in whole milliseconds; the last bucket holds everything at or past a minute. */
const lagHistogram = new Uint32Array(60_001);
/** Parsed receivedAt values; every stream carries the same few, so parse each once. */
const receivedAtMs = new Map<string, number>();

let events = 0;
let firstArrival = 0;
let lastArrival = 0;
let failed = 0;
let closedEarly = 0;
const streams: { req: ClientRequest; events: number; tail: string }[] = [];

function receivedAt(iso: string): number {
  let t = receivedAtMs.get(iso);
  if (t === undefined) {
    if (receivedAtMs.size > 100_000) receivedAtMs.clear();
    t = Date.parse(iso);
    receivedAtMs.set(iso, t);
  }
  return t;
}

/** Counts the events in one chunk; a marker cut by the chunk boundary is completed by the next chunk. */
function scan(stream: (typeof streams)[number], chunk: string, now: number): void {
  const s = stream.tail + chunk;
  let from = 0;
  let keepFrom = Math.max(0, s.length - (MARK.length - 1));
  for (;;) {
    const i = s.indexOf(MARK, from);
    if (i < 0) break;
    const start = i + MARK.length;
    if (start + ISO_LENGTH > s.length) {
      keepFrom = i;
      break;
    }
    const stamp = s.slice(start, start + ISO_LENGTH);
    const lag = Math.max(0, now - (FROM_SENT ? Number(stamp) : receivedAt(stamp)));
    lagHistogram[Math.min(lag, lagHistogram.length - 1)]!++;
    stream.events++;
    events++;
    from = start + ISO_LENGTH;
    keepFrom = Math.max(keepFrom, from);
  }
  if (firstArrival === 0 && events > 0) firstArrival = now;
  if (from > 0) lastArrival = now;
  stream.tail = s.slice(keepFrom);
}

function open(): Promise<void> {
  return new Promise((resolve) => {
    const stream = { req: null as unknown as ClientRequest, events: 0, tail: '' };
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      if (ok) streams.push(stream);
      else failed++;
      resolve();
    };
    stream.req = request(
      { host: target.hostname, port: target.port, path: '/events', agent: false, headers: { Accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          done(false);
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => scan(stream, chunk, Date.now()));
        res.on('close', () => {
          if (!stopping) closedEarly++;
        });
        done(true);
      },
    );
    stream.req.on('error', () => done(false));
    stream.req.end();
  });
}

let stopping = false;
const stalledSockets: Socket[] = [];

/** A reader that never reads: paused before it connects, so not even the first bytes leave the kernel. */
function openStalled(): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.hostname, port: Number(target.port) });
    socket.pause();
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      socket.write(`GET /events HTTP/1.1\r\nHost: ${target.host}\r\nAccept: text/event-stream\r\n\r\n`);
      stalledSockets.push(socket);
      resolve();
    });
    socket.once('close', () => resolve());
  });
}

/** Runs `open` `count` times with at most CONNECT_CONCURRENCY in flight. */
async function inFlight(count: number, open: () => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      await open();
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, count) }, worker));
}

async function openAll(): Promise<void> {
  await inFlight(CONNECTIONS, open);
  await inFlight(STALLED, openStalled);
}

function percentile(p: number): number | null {
  const total = lagHistogram.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let ms = 0; ms < lagHistogram.length; ms++) {
    seen += lagHistogram[ms]!;
    if (seen >= rank) return ms;
  }
  return lagHistogram.length - 1;
}

function finish(): void {
  stopping = true;
  const result = {
    type: 'result',
    open: streams.length,
    events,
    expected: streams.length * EVENTS,
    complete: streams.filter((s) => s.events >= EVENTS).length,
    closedEarly,
    firstArrival,
    lastArrival,
    lagP50Ms: percentile(50),
    lagP95Ms: percentile(95),
    lagP99Ms: percentile(99),
    lagMaxMs: percentile(100),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  for (const s of streams) s.req.destroy();
  for (const s of stalledSockets) s.destroy();
  process.exit(0);
}

function awaitCompletion(): void {
  const deadline = Date.now() + GRACE_MS;
  const check = () => {
    if (events >= streams.length * EVENTS || Date.now() >= deadline) finish();
    else setTimeout(check, 20);
  };
  check();
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', (line: string) => {
  if (line.includes('stop')) awaitCompletion();
});
// The parent went away: nothing would ever read a result.
process.stdin.on('end', () => process.exit(1));

await openAll();
process.stdout.write(JSON.stringify({ type: 'ready', open: streams.length, stalled: stalledSockets.length, failed }) + '\n');
