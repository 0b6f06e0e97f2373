import type { IncomingMessage, ServerResponse } from 'node:http';
import { LatencyWindow } from '../bus/latency.js';
import type { PublishOrder } from '../bus/publish-order.js';
import type { Envelope } from '../envelope/envelope.js';
import { uuidv7Time } from '../envelope/uuidv7.js';
import type { Logger } from '../log/logger.js';
import { SseClient, type ClientLimits, type EndReason } from './client.js';
import { matches, type StreamFilter } from './filter.js';
import { eventFrame, HEARTBEAT_FRAME, openingFrame, SseFramingError, type SseFrame } from './frame.js';
import { SSE_HEADERS } from './headers.js';
import { History, type HistoryItem } from './history.js';
import type { SseMetrics } from './metrics.js';
import { RateWindow } from './rates.js';
import { ReorderWindow } from './reorder.js';
import { KernelSendQueues } from './send-queues.js';
import { SnapshotState } from './snapshot.js';

export interface HubOptions {
  readonly heartbeatMs: number;
  readonly retryMs: number;
  readonly maxConnectionMs: number;
  readonly maxConnections: number;
  readonly clientLimits: ClientLimits;
  readonly history: History;
  readonly snapshot: SnapshotState;
  readonly log: Logger;
  /** Where the kernel's per-socket send queues are read from; the default reads /proc on Linux. */
  readonly kernelQueues?: KernelSendQueues;
  /** How often streams are checked for a stalled reader (see SseClient.checkStall). */
  readonly stallCheckMs?: number;
  /** Events are held this long and streamed in id order (see ReorderWindow); 0 streams them as they arrive. */
  readonly reorderWindowMs?: number;
  /** Events held at most; past it the oldest ids are released early. */
  readonly reorderMaxHeld?: number;
}

/** How often stream lifetimes are checked; the jitter on lifetimes is far wider. */
const LIFETIME_CHECK_MS = 1_000;
/**
 * How often the kernel's send queues are read to find readers that stopped:
 * a stalled stream is cut within two checks of passing its bound. With
 * 27,000 sockets the kernel takes about 0.3 s to write the table (on the
 * reading thread, see KernelSendQueues) and parsing it 4-7 ms on the event loop.
 */
const STALL_CHECK_MS = 5_000;
/** A resume id stamped further ahead than this (clock skew and more) sets no floor: it would hold back the live stream. */
const FUTURE_ID_SLACK_MS = 60_000;
/** At most one warning per this long for rejected envelopes; the rest are counted. */
const REJECT_LOG_EVERY_MS = 10_000;

/** The control event telling a resuming client its Last-Event-ID is gone and it should refetch /snapshot. */
export const RESYNC_EVENT = 'resync';

/**
 * The fan-out core: takes envelopes from the bus, serializes each once,
 * keeps it in history and the snapshot, and queues the same buffer on every
 * open stream whose filter matches. Knows nothing of Pub/Sub or Express.
 *
 * Membership is a Set; every disconnect path (client gone, slow, lifetime,
 * shutdown, socket error) goes through SseClient.end, which removes the
 * client here, so nothing outlives its connection.
 */
export class Hub {
  private readonly clients = new Set<SseClient>();
  /**
   * Streams with frames to write at the next flush, each once (its `dirty`
   * flag). A reused array rather than a Set: at 10,000 streams a Set cleared
   * every event was rebuilt from empty ten times a second, and that garbage
   * showed in the profile.
   */
  private dirty: SseClient[] = [];
  private dirtyCount = 0;
  private flushScheduled = false;
  private readonly kernelQueues: KernelSendQueues;
  private stallCheckRunning = false;
  private nextClientId = 1;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly heartbeatMs: number;
  /** The same for every stream: built once, not per connection. */
  private readonly openingFrame: SseFrame;
  readonly lag = new LatencyWindow();
  readonly rates = new RateWindow(60);
  readonly counts = {
    received: 0,
    delivered: 0,
    droppedSlowClients: 0,
    /** Of droppedSlowClients, those cut because the kernel held their bytes unread (see SseClient.checkStall). */
    droppedStalledClients: 0,
    rejected: 0,
    duplicates: 0,
    connectionsOpened: 0,
    peakConnections: 0,
    refusedConnections: 0,
  };
  lastEventAt: number | null = null;
  private lastRejectLog = 0;
  private suppressedRejects = 0;
  private metrics: SseMetrics | undefined;
  /** Between arrival and delivery: puts this instance's stream in id order, whatever order its subscriptions delivered. */
  readonly reorder: ReorderWindow<{ e: Envelope; item: HistoryItem }>;
  /**
   * Streams resumed with an id this instance has not streamed up to yet
   * (it is behind the instance the client came from): live events up to
   * that id are skipped for them. Bounded by the open streams; each entry
   * goes once this instance streams past its id, or with its stream.
   */
  private readonly floors = new Map<SseClient, string>();

  constructor(private readonly opts: HubOptions) {
    this.heartbeatMs = opts.heartbeatMs;
    this.reorder = new ReorderWindow(opts.reorderWindowMs ?? 0, opts.reorderMaxHeld ?? 10_000, (x, late) =>
      this.deliver(x.e, x.item, late),
    );
    this.openingFrame = openingFrame(opts.retryMs);
    this.timers.push(setInterval(() => this.heartbeat(), this.heartbeatMs));
    if (opts.maxConnectionMs > 0) this.timers.push(setInterval(() => this.expireLifetimes(), LIFETIME_CHECK_MS));
    this.kernelQueues = opts.kernelQueues ?? new KernelSendQueues();
    this.kernelQueues.start();
    this.timers.push(setInterval(() => void this.checkStalls(), opts.stallCheckMs ?? STALL_CHECK_MS));
    for (const t of this.timers) t.unref();
  }

  attachMetrics(m: SseMetrics): void {
    this.metrics = m;
  }

  get connections(): number {
    return this.clients.size;
  }

  get history(): History {
    return this.opts.history;
  }

  get snapshot(): SnapshotState {
    return this.opts.snapshot;
  }

  /** Bus listener: must not throw and must not block. `order` (from Pub/Sub) lets the reorder window stream it without waiting. */
  ingest(e: Envelope, order?: PublishOrder): void {
    let frame: SseFrame;
    try {
      if (!e || typeof e.id !== 'string' || typeof e.type !== 'string') throw new TypeError('not an envelope');
      if (this.opts.history.has(e.id) || this.reorder.has(e.id)) {
        this.counts.duplicates++;
        this.metrics?.rejectedEvents.inc({ reason: 'duplicate' });
        return;
      }
      frame = eventFrame(e.type, JSON.stringify(wireEnvelope(e)), e.id);
    } catch (err) {
      this.reject(err instanceof SseFramingError ? 'framing' : 'invalid', err, e);
      return;
    }
    const item: HistoryItem = { id: e.id, type: e.type, productId: e.keys?.productId, eventId: e.keys?.eventId, frame };
    this.reorder.push(e.id, { e, item }, order);
  }

  /** Keeps one event for resume and the snapshot, and queues it on every stream it matches. */
  private deliver(e: Envelope, item: HistoryItem, late: boolean): void {
    const frame = item.frame;
    const now = Date.now();
    this.counts.received++;
    this.lastEventAt = now;
    this.rates.record(e.type, now);
    this.metrics?.eventsReceived.inc({ type: e.type });
    const received = Date.parse(e.receivedAt);
    if (Number.isFinite(received)) {
      const lagMs = Math.max(0, now - received);
      this.lag.record(lagMs);
      this.metrics?.lag.observe(lagMs / 1000);
    }
    this.opts.history.push(item);
    this.opts.snapshot.apply(e, now);
    let sent = 0;
    if (this.floors.size) this.passFloors(item.id);
    for (const c of this.clients) {
      if (!matches(c.filter, item.type, item.productId, item.eventId)) continue;
      // Already streamed by the instance the client resumed from (which streamed in id order), unless late here.
      if (this.floors.size && !late && this.floors.has(c) && item.id <= this.floors.get(c)!) continue;
      if (c.enqueue(frame, item.id)) {
        sent++;
        this.markDirty(c);
      }
    }
    this.noteDelivered(sent);
    this.scheduleFlush();
  }

  /** A floor is done with once this instance streams past it: everything later has a larger id. */
  private passFloors(id: string): void {
    for (const [c, floor] of this.floors) if (id > floor) this.floors.delete(c);
  }

  private reject(reason: 'framing' | 'invalid', err: unknown, e: unknown): void {
    this.counts.rejected++;
    this.metrics?.rejectedEvents.inc({ reason });
    const now = Date.now();
    if (now - this.lastRejectLog < REJECT_LOG_EVERY_MS) {
      this.suppressedRejects++;
      return;
    }
    this.lastRejectLog = now;
    const id = typeof (e as Envelope)?.id === 'string' ? JSON.stringify((e as Envelope).id.slice(0, 100)) : undefined;
    this.opts.log.warn('envelope not streamed', { reason, err, envelopeId: id, suppressedSinceLast: this.suppressedRejects });
    this.suppressedRejects = 0;
  }

  private noteDelivered(n: number): void {
    if (n === 0) return;
    this.counts.delivered += n;
    this.metrics?.eventsSent.inc(n);
  }

  /**
   * Starts a stream on `res`. With `lastEventId` the client first gets what
   * it missed from history (filtered), or a `resync` event when its id is no
   * longer held. Registration and replay happen in one synchronous step, so
   * no live event can slip between them.
   */
  open(
    req: IncomingMessage,
    res: ServerResponse,
    filter: StreamFilter,
    lastEventId: string | undefined,
    extraHeaders: Record<string, string> = {},
  ): SseClient | null {
    if (this.clients.size >= this.opts.maxConnections) {
      this.counts.refusedConnections++;
      // A 503 stops EventSource for good; the dashboard retries by itself after Retry-After.
      res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '5', ...extraHeaders });
      res.end(JSON.stringify({ error: 'too many connections on this instance; retry shortly' }));
      return null;
    }
    res.writeHead(200, { ...SSE_HEADERS, ...extraHeaders });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const deadline = this.opts.maxConnectionMs > 0 ? Date.now() + Math.round(this.opts.maxConnectionMs * (0.8 + 0.2 * Math.random())) : 0;
    const client = new SseClient(this.nextClientId++, res, filter, this.opts.clientLimits, deadline, (c, reason) => this.onEnd(c, reason));
    this.clients.add(client);
    this.counts.connectionsOpened++;
    this.counts.peakConnections = Math.max(this.counts.peakConnections, this.clients.size);
    this.metrics?.connectionsOpened.inc();
    client.enqueue(this.openingFrame);
    if (lastEventId !== undefined) this.replay(client, lastEventId);
    client.flush();
    return client;
  }

  private replay(client: SseClient, lastEventId: string): void {
    const r = this.opts.history.since(lastEventId);
    if (!r.ok) {
      client.enqueue(this.resyncFrame({ reason: r.reason, lastEventId: lastEventId.slice(0, 100), oldestEventId: r.oldestEventId }));
      return;
    }
    let n = 0;
    for (const item of r.items) {
      if (!matches(client.filter, item.type, item.productId, item.eventId)) continue;
      client.enqueueReplay(item.frame, item.id);
      n++;
    }
    this.noteDelivered(n);
    // Resumed from an instance that was ahead of this one: the ids up to lastEventId still to be streamed
    // here are ones the client already has. An id stamped in the future is not one the subscriber gave.
    const stamped = uuidv7Time(lastEventId) ?? 0;
    if (this.reorder.windowMs > 0 && lastEventId > this.reorder.releasedMax && stamped <= Date.now() + FUTURE_ID_SLACK_MS) {
      this.floors.set(client, lastEventId);
    }
  }

  /**
   * The `resync` event: refetch /snapshot and merge it. It carries the newest
   * id held, so EventSource's next reconnect resumes from there instead of
   * resending the stale Last-Event-ID (and being told again); an empty id
   * (nothing held yet) clears it.
   */
  private resyncFrame(detail: Record<string, unknown>): SseFrame {
    return eventFrame(RESYNC_EVENT, JSON.stringify({ ...detail, snapshot: '/snapshot' }), this.opts.history.newestId() ?? '');
  }

  /** Tells every open stream to resync, e.g. after a subscription had to be recreated and may have missed messages. */
  broadcastResync(reason: string): void {
    const frame = this.resyncFrame({ reason, oldestEventId: this.opts.history.oldestId() });
    for (const c of this.clients) if (c.enqueue(frame)) this.markDirty(c);
    this.scheduleFlush();
  }

  /** An event for every open stream, whatever its filter (e.g. "names changed"); carries no id. */
  broadcastControl(event: string, data: unknown): void {
    const frame = eventFrame(event, JSON.stringify(data));
    for (const c of this.clients) if (c.enqueue(frame)) this.markDirty(c);
    this.scheduleFlush();
  }

  private onEnd(c: SseClient, reason: EndReason): void {
    // Left in the dirty list if it is there: flushing an ended client does nothing.
    this.clients.delete(c);
    this.floors.delete(c);
    this.metrics?.connectionsEnded.inc({ reason });
    if (reason === 'slow') {
      this.counts.droppedSlowClients++;
      this.metrics?.droppedSlowClients.inc();
      this.opts.log.warn('slow client disconnected', { clientId: c.id, lastEventId: c.lastEventId });
    }
  }

  private markDirty(c: SseClient): void {
    if (c.dirty) return;
    c.dirty = true;
    if (this.dirtyCount === this.dirty.length) this.dirty.push(c);
    else this.dirty[this.dirtyCount] = c;
    this.dirtyCount++;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.dirtyCount === 0) return;
    this.flushScheduled = true;
    // One macrotask later: a burst from the bus becomes one write per client, not one per event.
    setImmediate(this.flushDirty);
  }

  private readonly flushDirty = (): void => {
    this.flushScheduled = false;
    const list = this.dirty;
    const n = this.dirtyCount;
    this.dirtyCount = 0;
    for (let i = 0; i < n; i++) {
      const c = list[i]!;
      list[i] = undefined as unknown as SseClient;
      c.dirty = false;
      c.flush();
    }
    // Keep the array for the next event unless the audience shrank a lot since it grew.
    if (list.length > 1024 && list.length > 4 * this.clients.size) this.dirty = [];
  };

  private heartbeat(): void {
    for (const c of this.clients) if (c.enqueue(HEARTBEAT_FRAME)) this.markDirty(c);
    this.scheduleFlush();
  }

  /**
   * Reads the kernel's send queues and cuts streams whose reader stopped
   * (SseClient.checkStall). One read at a time; where the queues cannot be
   * read, the bound on what Node itself queues is all there is.
   */
  async checkStalls(): Promise<number> {
    if (this.stallCheckRunning || this.clients.size === 0 || !this.kernelQueues.isAvailable) return 0;
    this.stallCheckRunning = true;
    try {
      const ports = new Set<number>();
      for (const c of this.clients) if (c.localPort !== undefined) ports.add(c.localPort);
      const queues = await this.kernelQueues.read(ports);
      if (!queues) return 0;
      let cut = 0;
      for (const c of [...this.clients]) {
        if (c.kernelKey === null) continue;
        const unacked = queues.get(c.kernelKey);
        if (unacked !== undefined && c.checkStall(unacked)) cut++;
      }
      this.counts.droppedStalledClients += cut;
      return cut;
    } finally {
      this.stallCheckRunning = false;
    }
  }

  private expireLifetimes(): void {
    const now = Date.now();
    for (const c of this.clients) {
      if (c.deadline > 0 && now >= c.deadline) {
        c.flush();
        c.end('lifetime');
      }
    }
  }

  /** Ends every stream (clients reconnect, possibly elsewhere, and resume). */
  endAll(reason: EndReason = 'shutdown'): number {
    const n = this.clients.size;
    for (const c of [...this.clients]) {
      c.flush();
      c.end(reason);
    }
    return n;
  }

  stop(): void {
    // What is held goes to history and open streams first, so a stream ended now resumes from it elsewhere.
    this.reorder.flush();
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    void this.kernelQueues.close();
    this.endAll('shutdown');
  }
}

/** What a browser gets in `data:`: the envelope without the subscriber's socket and process ids. */
export function wireEnvelope(e: Envelope): Record<string, unknown> {
  return {
    id: e.id,
    type: e.type,
    rootField: e.rootField,
    receivedAt: e.receivedAt,
    source: e.source,
    keys: e.keys,
    payload: e.payload,
    ...(e.test ? { test: true } : {}),
    ...(e.delivery === 'reconciled' ? { delivery: 'reconciled' } : {}),
  };
}
