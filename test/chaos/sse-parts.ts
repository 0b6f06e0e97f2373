import { randomBytes } from 'node:crypto';
import { request as httpRequest, type ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { EnvelopeListener, EnvelopeSource } from '../../src/bus/types.js';
import type { PublishOrder } from '../../src/bus/publish-order.js';
import { PubSubPublisher } from '../../src/bus/pubsub-publisher.js';
import { entryForMessageType } from '../../src/catalog/catalog.js';
import { loadConfig, type Config as AppConfig } from '../../src/config/index.js';
import { PubSubConsumer } from '../../src/consumer/index.js';
import { extractKeys, makeEnvelope, type Envelope } from '../../src/envelope/envelope.js';
import { createLogger } from '../../src/log/logger.js';
import { startSseService, type SseService } from '../../src/sse/index.js';
import { openStream, type SseStream } from '../helpers/sse-stream.js';

const ORIGIN = { source: 'chaos', protocol: 'graphql-ws' as const, connectionId: 'chaos-c1', instanceId: 'chaos-sub' };
const quiet = createLogger({ component: 'chaos-sse' });

/** The feed of one racing afternoon in miniature: pool totals by product and race statuses by event, interleaved. */
export function feedEnvelope(i: number, padBytes = 0): Envelope {
  const type = i % 2 === 0 ? 'PoolTotalChanged' : 'EventStatusChanged';
  const pad = padBytes > 0 ? { note: 'x'.repeat(padBytes) } : {};
  const payload =
    type === 'PoolTotalChanged'
      ? { productId: `p${i % 6}`, isFinalized: false, total: { grossAmounts: [{ decimalAmount: i, currency: { code: 'GBP' } }] }, ...pad }
      : { eventId: `e${i % 5}`, status: `S${i}`, ...pad };
  const entry = entryForMessageType(type)!;
  const keys = extractKeys(entry, payload);
  if (!keys.ok) throw new Error('feed payload misses keys');
  return makeEnvelope(entry, payload, keys.keys, ORIGIN);
}

/**
 * A consumer seen through a link that delays every message of some types:
 * how two instances come to receive messages of different ordering keys in
 * different orders. Order within a type is kept, as Pub/Sub keeps it per key.
 */
export function skewedSource(consumer: PubSubConsumer, delayMs: number, delayed: readonly string[]): EnvelopeSource {
  const slow = new Set(delayed);
  const timers = new Set<NodeJS.Timeout>();
  return {
    subscribe(listener: EnvelopeListener) {
      const off = consumer.subscribe((e: Envelope, order?: PublishOrder) => {
        if (!slow.has(e.type)) return listener(e, order);
        const t = setTimeout(() => {
          timers.delete(t);
          listener(e, order);
        }, delayMs);
        timers.add(t);
      });
      return () => {
        for (const t of timers) clearTimeout(t);
        off();
      };
    },
    // What the SSE service asks a Pub/Sub source: since when it is complete, its gaps, its status.
    completeSince: () => consumer.completeSince(),
    onGap: (l: (at: number) => void) => consumer.onGap(l),
    status: () => consumer.status(),
  } as EnvelopeSource;
}

export interface PubsubProject {
  readonly config: AppConfig;
  readonly publisher: PubSubPublisher;
  close(): Promise<void>;
}

/** A fresh project on the emulator with the project's own publisher on it. */
export async function pubsubProject(emulatorHost: string, env: Record<string, string> = {}): Promise<PubsubProject> {
  const config = loadConfig({
    BUS: 'pubsub',
    PUBSUB_EMULATOR_HOST: emulatorHost,
    GOOGLE_CLOUD_PROJECT: `chaos-sse-${randomBytes(4).toString('hex')}`,
    SSE_SEEK_BACK_MS: '0',
    SSE_CLOCK_SKEW_MS: '0',
    SSE_CONSUMER_DEAD_LETTER: 'false',
    ...env,
  });
  const publisher = new PubSubPublisher(config.bus, createLogger({ component: 'chaos-publisher' }));
  await publisher.connect();
  return { config, publisher, close: () => publisher.close() };
}

export interface SseInstance {
  readonly consumer: PubSubConsumer;
  readonly sse: SseService;
  close(): Promise<void>;
}

/** One SSE instance as Cloud Run runs it: its own subscriptions, its own history, on loopback. */
export async function sseInstance(
  p: PubsubProject,
  instanceId: string,
  o: { reorderWindowMs?: number; skew?: { delayMs: number; types: readonly string[] } } = {},
): Promise<SseInstance> {
  const sseConfig = {
    ...p.config.sse,
    instanceId,
    port: 0,
    host: '127.0.0.1',
    ...(o.reorderWindowMs !== undefined ? { reorderWindowMs: o.reorderWindowMs } : {}),
  };
  const consumer = new PubSubConsumer({ config: p.config.bus, sse: sseConfig, log: quiet.child({ instanceId }) });
  await consumer.start();
  const source = o.skew ? skewedSource(consumer, o.skew.delayMs, o.skew.types) : consumer;
  const sse = await startSseService({ config: sseConfig, source, log: quiet.child({ instanceId }) });
  return {
    consumer,
    sse,
    close: async () => {
      await sse.close();
      await consumer.close();
    },
  };
}

/**
 * A browser's view across reconnects: every feed message it was given
 * (data.id, in order, repeats kept), the resyncs it was told of, and the id
 * EventSource would send next.
 */
export class Viewer {
  readonly got: string[] = [];
  resyncs = 0;
  lastEventId: string | undefined;
  stream: SseStream | undefined;
  private counted = 0;

  async open(baseUrl: string): Promise<void> {
    this.take();
    this.counted = 0;
    this.stream = await openStream(`${baseUrl}/events`, this.lastEventId ? { 'Last-Event-ID': this.lastEventId } : {});
  }

  /** Moves what the open stream has delivered into `got`. */
  take(): void {
    const s = this.stream;
    if (!s) return;
    for (const e of s.events.slice(this.counted)) {
      if (e.event === 'resync') this.resyncs++;
      else if (e.id) this.got.push((JSON.parse(e.data) as { id: string }).id);
    }
    this.counted = s.events.length;
    if (s.lastEventId !== undefined) this.lastEventId = s.lastEventId;
  }

  /** Events the open stream delivered since it opened. */
  get pending(): number {
    return (this.stream?.events.length ?? 0) - this.counted;
  }

  close(): void {
    this.take();
    this.stream?.close();
    this.stream = undefined;
  }
}

/** Published ids never delivered, and deliveries beyond the first of an id. */
export function lostAndDoubled(published: readonly string[], got: readonly string[]): { lost: number; duplicated: number } {
  const seen = new Set(got);
  return { lost: published.filter((id) => !seen.has(id)).length, duplicated: got.length - seen.size };
}

/**
 * A lean stream reader for many clients in one process: it keeps no text,
 * only checks each id against the published sequence (one instance streams
 * in publish order), across every reconnect it makes with Last-Event-ID.
 */
export class SequenceChecker {
  lost = 0;
  duplicated = 0;
  resyncs = 0;
  connects = 0;
  lastEventId: string | undefined;
  /** Index in the published sequence of the next id expected; undefined until the first (a viewer joins live). */
  private next: number | undefined;
  private req: ClientRequest | undefined;
  private tail = '';
  private open = false;
  private frameId: string | undefined;
  private frameResync = false;

  constructor(private readonly indexOf: ReadonlyMap<string, number>) {}

  get connected(): boolean {
    return this.open;
  }

  /** Index of the next id this viewer is owed. */
  get position(): number | undefined {
    return this.next;
  }

  connect(url: string, onEnd?: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
      const req = httpRequest(`${url}/events`, { headers, agent: false }, (res) => {
        this.open = true;
        this.connects++;
        this.tail = '';
        this.frameId = undefined;
        this.frameResync = false;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.feed(chunk));
        const ended = () => {
          if (!this.open) return;
          this.open = false;
          onEnd?.();
        };
        res.on('close', ended);
        res.on('error', ended);
        resolve();
      });
      req.on('error', (err) => (this.open ? undefined : reject(err)));
      req.end();
      this.req = req;
    });
  }

  private feed(chunk: string): void {
    const text = this.tail + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      if (nl === start) {
        // End of a frame: a resync's id only moves Last-Event-ID on; it is not a feed message.
        if (this.frameResync) {
          this.resyncs++;
          if (this.frameId !== undefined) this.lastEventId = this.frameId;
        } else if (this.frameId !== undefined) this.id(this.frameId);
        this.frameId = undefined;
        this.frameResync = false;
      } else if (text.startsWith('id: ', start)) this.frameId = text.slice(start + 4, nl);
      else if (text.startsWith('event: resync', start)) this.frameResync = true;
      start = nl + 1;
    }
    this.tail = text.slice(start);
  }

  private id(id: string): void {
    const i = this.indexOf.get(id);
    // An id this run did not publish is not a feed message.
    if (i === undefined) {
      this.lastEventId = id;
      return;
    }
    if (this.next === undefined) this.next = i;
    if (i < this.next) this.duplicated++;
    else {
      this.lost += i - this.next;
      this.next = i + 1;
    }
    this.lastEventId = id;
  }

  /** At the end: everything from where it joined to the last published id is owed. */
  settle(total: number): void {
    if (this.next !== undefined) this.lost += total - this.next;
    this.next = total;
  }

  close(): void {
    this.req?.destroy();
    this.open = false;
  }
}

/** A client that opens a stream and never reads from it: the socket fills, then the server must cut it. */
export function nonReader(url: string): Promise<{ socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/events`, { headers: { Accept: 'text/event-stream' }, agent: false }, (res) => {
      res.pause();
      res.socket.pause();
      res.socket.on('error', () => undefined);
      resolve({ socket: res.socket });
    });
    req.on('error', reject);
    req.end();
  });
}
