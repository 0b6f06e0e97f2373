import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { endianness } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * What the kernel holds for each of our TCP sockets: bytes handed to it that
 * the peer has not acknowledged yet (Linux `/proc/net/tcp`, `tx_queue`).
 *
 * Node cannot see this: the kernel accepts writes into a socket's send
 * buffer, which autotunes to megabytes (about 2.9 MB per stalled loopback
 * reader measured here), and only when that is full does `write()` report
 * backpressure. A reader that stopped reading therefore pins that much
 * kernel memory, unseen, before any bound counted in Node applies. Reading
 * the queue lengths lets the stream bound cover those bytes too.
 *
 * Off Linux, or where the file cannot be read (some sandboxes), `read`
 * answers null and the caller falls back to the bound it can count itself.
 */
export class KernelSendQueues {
  private available = true;
  private readonly tables: TableReader;

  constructor(private readonly files: readonly string[] = ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    this.tables = new TableReader();
  }

  get isAvailable(): boolean {
    return this.available;
  }

  /**
   * Unacknowledged bytes of every established socket whose local port is one
   * of `localPorts`, keyed by `socketKey(remoteAddress, remotePort)`.
   */
  async read(localPorts: ReadonlySet<number>): Promise<Map<string, number> | null> {
    if (!this.available) return null;
    const out = new Map<string, number>();
    const ports = new Set([...localPorts].map(hexPort));
    let readAny = false;
    let absent = 0;
    for (const table of await this.tables.read(this.files)) {
      if ('code' in table) {
        // Only a table that is not there (or not ours to read) turns the checks off; anything else
        // (out of file descriptors with thousands of streams open) is tried again next time.
        if (table.code === 'ENOENT' || table.code === 'EACCES' || table.code === 'ENOTDIR') absent++;
        continue;
      }
      readAny = true;
      parseInto(table.text, ports, out);
    }
    if (absent === this.files.length) {
      // Never there (not Linux, or no /proc): the reading thread has nothing to do for good.
      this.available = false;
      await this.tables.close();
    }
    return readAny ? out : null;
  }

  /**
   * Starts the reading thread now rather than at the first reading, so its
   * fixed cost (about 10 MB of RSS) is paid when the service starts, not
   * while it streams.
   */
  start(): void {
    if (this.available) this.tables.start();
  }

  /** Stops the reading thread (the hub's stop); a later read starts another. */
  async close(): Promise<void> {
    await this.tables.close();
  }
}

type Table = { text: string } | { code: string };

/** Runs on the reading thread: each file read whole, synchronously, or the error code that stopped it. */
const READER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
parentPort.on('message', ({ seq, files, shared }) => {
  const into = new Uint8Array(shared);
  let used = 0;
  const tables = [];
  for (const file of files) {
    let fd;
    try {
      fd = openSync(file, 'r');
      const start = used;
      for (;;) {
        if (used === into.length) return parentPort.postMessage({ seq, full: true });
        const n = readSync(fd, into, used, into.length - used, null);
        if (n === 0) break;
        used += n;
      }
      tables.push({ start, end: used });
    } catch (err) {
      tables.push({ code: String((err && err.code) || 'EIO') });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  parentPort.postMessage({ seq, tables });
});
`;

/** Where the reading thread writes the tables: kept between readings, doubled when a reading does not fit. */
const FIRST_BUFFER_BYTES = 1 << 20;
/** About a million sockets' lines: past this the tables are not read (the bound Node counts still applies). */
const MAX_BUFFER_BYTES = 256 << 20;

/** A reading that has not come back in this long is abandoned and its thread replaced. */
const READ_TIMEOUT_MS = 30_000;

/**
 * Reads the tables on a thread of their own. The kernel hands `/proc/net/tcp`
 * out one page (4 KiB) per read call, so an asynchronous read of the table of
 * 27,000 sockets (4 MB) is about a thousand thread-pool round trips, each
 * waiting for a turn of a busy event loop: 15 s with the loop blocked 20 ms a
 * turn, 38 s on an SSE instance streaming to 10,000 clients (both measured),
 * by which time the reading is worthless. A synchronous read on a thread that
 * does nothing else costs only the kernel's time (about 0.3 s for that table)
 * and never blocks the event loop. Where no thread can be started, the files
 * are read on the thread pool as before.
 */
class TableReader {
  private worker: Worker | null = null;
  private seq = 0;
  private shared = new SharedArrayBuffer(FIRST_BUFFER_BYTES);
  private readonly waiting = new Map<number, (answer: Answer | null) => void>();

  async read(files: readonly string[]): Promise<Table[]> {
    for (;;) {
      const worker = this.thread();
      if (!worker) return readOnPool(files);
      const answer = await this.ask(worker, files);
      if (!answer) {
        // Stuck or gone: start afresh next time, and say nothing was read this time.
        await this.close();
        return files.map(() => ({ code: 'ETIMEDOUT' }));
      }
      if ('tables' in answer) {
        const bytes = Buffer.from(this.shared);
        return answer.tables.map((t) => ('code' in t ? t : { text: bytes.toString('latin1', t.start, t.end) }));
      }
      if (this.shared.byteLength >= MAX_BUFFER_BYTES) return files.map(() => ({ code: 'E2BIG' }));
      this.shared = new SharedArrayBuffer(this.shared.byteLength * 2);
    }
  }

  start(): void {
    this.thread();
  }

  private ask(worker: Worker, files: readonly string[]): Promise<Answer | null> {
    const seq = ++this.seq;
    return new Promise<Answer | null>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        resolve(null);
      }, READ_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(seq, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      worker.postMessage({ seq, files, shared: this.shared });
    });
  }

  private thread(): Worker | null {
    if (this.worker) return this.worker;
    let worker: Worker;
    try {
      // No execArgv: the reader needs none of the parent's loaders. Small heaps: it writes the
      // tables into the shared buffer and keeps nothing.
      worker = new Worker(READER_SOURCE, {
        eval: true,
        execArgv: [],
        resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
      });
    } catch {
      return null;
    }
    worker.unref();
    worker.on('message', (m: { seq: number } & Answer) => {
      const done = this.waiting.get(m.seq);
      this.waiting.delete(m.seq);
      done?.(m);
    });
    const gone = () => {
      if (this.worker === worker) this.worker = null;
      for (const done of this.waiting.values()) done(null);
      this.waiting.clear();
    };
    worker.on('error', gone);
    worker.on('exit', gone);
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}

/** The reading thread's answer: where each table lies in the shared buffer, or that they did not fit. */
type Answer = { tables: ({ start: number; end: number } | { code: string })[] } | { full: true };

async function readOnPool(files: readonly string[]): Promise<Table[]> {
  return Promise.all(
    files.map(async (file): Promise<Table> => {
      try {
        return { text: await readFile(file, 'latin1') };
      } catch (err) {
        return { code: String((err as NodeJS.ErrnoException).code ?? 'EIO') };
      }
    }),
  );
}

const ESTABLISHED = '01';

/**
 * One line per socket: `sl: local rem st tx_queue:rx_queue …`, addresses as
 * hex words in host byte order, then `:` and the port in hex. Parsed by
 * position rather than split, since the file has a line per socket on the
 * machine's network namespace (tens of thousands on a busy instance).
 */
function parseInto(text: string, ports: ReadonlySet<string>, out: Map<string, number>): void {
  let at = text.indexOf('\n') + 1; // the header line
  while (at > 0 && at < text.length) {
    const end = text.indexOf('\n', at);
    const lineEnd = end < 0 ? text.length : end;
    const local = text.indexOf(': ', at) + 2;
    const localEnd = text.indexOf(' ', local);
    if (local > 1 && localEnd > 0 && localEnd < lineEnd) {
      const colon = text.lastIndexOf(':', localEnd);
      if (ports.has(text.slice(colon + 1, localEnd))) {
        const remEnd = text.indexOf(' ', localEnd + 1);
        const state = text.slice(remEnd + 1, remEnd + 3);
        if (state === ESTABLISHED) {
          const tx = text.slice(remEnd + 4, text.indexOf(':', remEnd + 4));
          out.set(text.slice(localEnd + 1, remEnd), parseInt(tx, 16));
        }
      }
    }
    at = end < 0 ? -1 : end + 1;
  }
}

const hexPort = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
const LITTLE_ENDIAN = endianness() === 'LE';

/** The 4-byte word as the kernel prints it: `%08X` of the word read in host order. */
function word(b: readonly number[], i: number): string {
  const bytes = LITTLE_ENDIAN ? [b[i + 3]!, b[i + 2]!, b[i + 1]!, b[i]!] : [b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!];
  return bytes.map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join('');
}

function ipv6Bytes(address: string): number[] | null {
  let text = address.split('%')[0]!;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const maybeV4 = text.slice(lastColon + 1);
  if (isIPv4(maybeV4)) {
    tail.push(...maybeV4.split('.').map(Number));
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [head = '', rest] = text.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const hi = parse(head);
  const lo = rest === undefined ? [] : parse(rest);
  const groups = rest === undefined ? hi : [...hi, ...new Array<number>(8 - hi.length - lo.length).fill(0), ...lo];
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) return null;
  const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** The `rem_address` of a socket as /proc/net/tcp{,6} prints it, or null for an address it cannot be. */
export function socketKey(remoteAddress: string | undefined, remotePort: number | undefined): string | null {
  if (!remoteAddress || !remotePort) return null;
  if (isIPv4(remoteAddress)) return `${word(remoteAddress.split('.').map(Number), 0)}:${hexPort(remotePort)}`;
  if (!isIPv6(remoteAddress)) return null;
  const b = ipv6Bytes(remoteAddress);
  if (!b) return null;
  return `${word(b, 0)}${word(b, 4)}${word(b, 8)}${word(b, 12)}:${hexPort(remotePort)}`;
}
