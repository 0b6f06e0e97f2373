import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response, type NextFunction } from 'express';
import { canPublishDayCards, type EnvelopePublisher } from '../bus/types.js';
import type { SubscriberConfig } from '../config/subscriber.js';
import type { ToteConfig } from '../config/tote.js';
import type { Envelope } from '../envelope/envelope.js';
import type { HistorySink } from '../history/types.js';
import { redact, type Logger } from '../log/logger.js';
import { ToteClient } from '../tote/client.js';
import { resolveSecret, type SecretResolver } from '../tote/secrets.js';
import { DayCardRelay } from './day-card-relay.js';
import { Ingest } from './ingest.js';
import { LeasedConnection } from './leased-connection.js';
import { createSubscriberMetrics } from './metrics.js';
import { inWindow, type DailyWindow } from './window.js';

export interface SubscriberServiceOptions {
  tote: ToteConfig;
  subscriber: SubscriberConfig;
  publisher: EnvelopePublisher;
  history: HistorySink;
  log: Logger;
  /** Port to listen on (0 = any free port). */
  port: number;
  host?: string;
  /** Overrides for the Tote endpoints (the local simulator). */
  url?: string;
  graphqlUrl?: string;
  apiKey?: string;
  /** "tote" or "simulator". */
  source?: string;
  /** Reads sm:// references (default: Secret Manager with ambient credentials). */
  resolveSecret?: SecretResolver;
  /** Period of the "subscriber stats" log line. */
  statsIntervalMs?: number;
  /** Envelopes in flight before the Tote socket is paused. */
  maxInFlight?: number;
  /**
   * Part of the shutdown grace kept for history.close(), which stores what it
   * can and spills the rest (HISTORY_CLOSE_TIMEOUT_MS); the bus gets the time before it.
   */
  historyCloseMs?: number;
  /** Clock, for the window check. */
  now?: () => Date;
  /** How often the window's edges are checked (a start or stop lands within this of 06:00 / 23:00). */
  windowCheckMs?: number;
}

export interface SubscriberService {
  readonly url: string;
  readonly port: number;
  readonly client: ToteClient;
  readonly ingest: Ingest;
  /** Connect to Tote, through the lease when one is configured. */
  start(): void;
  status(): Record<string, unknown>;
  /**
   * Stop the Tote socket and flush the bus and history (what POST /stop and
   * SIGTERM do). Resolves false if something was still pending after the
   * shutdown grace.
   */
  stopAndFlush(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The subscriber Cloud Run service: the Tote client, the ingest core and the
 * control API (/health /status /metrics /start /stop /test-pubsub).
 */
export async function startSubscriberService(o: SubscriberServiceOptions): Promise<SubscriberService> {
  const log = o.log;
  const now = o.now ?? (() => new Date());
  const window: DailyWindow = { start: o.subscriber.windowStart, end: o.subscriber.windowEnd, timeZone: o.subscriber.timeZone };
  // The ingest core pauses the client under pressure; the client feeds the core.
  let client: ToteClient;
  // Names for the dashboard: fetched here, where the API key is, and published for the SSE side.
  const graphqlUrl = o.graphqlUrl ?? o.tote.graphqlUrl;
  const queryKey = o.apiKey ?? o.tote.apiKey;
  const publisher = o.publisher;
  const relay =
    graphqlUrl && queryKey && canPublishDayCards(publisher)
      ? new DayCardRelay({
          publisher,
          graphqlUrl,
          apiKey: queryKey,
          resolveSecret: o.resolveSecret ?? resolveSecret,
          refreshMs: o.tote.dayCardRefreshMs,
          minGapMs: o.tote.dayCardMinGapMs,
          active: () => client.status().state !== 'stopped',
          log: log.child({ component: 'day-card' }),
        })
      : null;
  const ingest = new Ingest({
    publisher: o.publisher,
    history: o.history,
    log,
    instanceId: o.subscriber.instanceId,
    source: o.source ?? 'tote',
    ...(o.maxInFlight ? { maxInFlight: o.maxInFlight } : {}),
    onPressure: (paused) => (paused ? client.pause() : client.resume()),
    ...(relay ? { onEnvelope: (e: Envelope) => relay.observe(e) } : {}),
  });
  client = new ToteClient({
    config: o.tote,
    ...(o.url ? { url: o.url } : {}),
    ...(o.apiKey ? { apiKey: o.apiKey } : {}),
    ...(o.resolveSecret ? { resolveSecret: o.resolveSecret } : {}),
    log,
    handlers: {
      onMessage: (entry, payload, raw, meta) => ingest.handleMessage(entry, payload, raw, meta),
      onBadFrame: (reason, detail, raw, meta, entry) => ingest.handleBadFrame(reason, detail, raw, meta, entry),
    },
  });

  const connection = new LeasedConnection(client, o.subscriber, log);

  await o.publisher.connect();
  await o.history.connect();

  relay?.start();
  const startedAt = new Date();
  let stopping: Promise<boolean> | null = null;

  const publishLatency = () => o.publisher.publishLatency?.() ?? { p50Ms: null, p99Ms: null, samples: 0 };

  const status = () => {
    const c = client.status();
    const s = ingest.stats();
    const h = o.history.status();
    const lat = publishLatency();
    return {
      service: 'subscriber',
      instanceId: o.subscriber.instanceId,
      startedAt: startedAt.toISOString(),
      state: c.state,
      protocol: c.protocol,
      connectionId: c.connectionId,
      connectedSince: c.connectedSince,
      reconnects: c.reconnects,
      nextRetryAt: c.nextRetryAt,
      lastError: c.lastError,
      lastErrorAt: c.lastErrorAt,
      paused: c.paused,
      window: { ...window, inWindow: inWindow(now(), window) },
      operations: c.operations,
      totals: s.totals,
      types: s.types,
      deadLetterReasons: s.deadLetterReasons,
      deadLettersNotPublished: s.deadLettersNotPublished,
      publish: { bus: o.publisher.name, backlog: s.publishBacklog, busBacklog: o.publisher.backlog(), latency: lat, delivery: o.publisher.deliveryStatus?.() ?? null },
      history: h,
      dayCard: relay?.status() ?? null,
      lease: connection.status(),
    };
  };

  const registry = createSubscriberMetrics(() => {
    const c = client.status();
    const s = ingest.stats();
    const lat = publishLatency();
    return {
      state: c.state,
      reconnects: c.reconnects,
      types: s.types,
      deadLetterReasons: s.deadLetterReasons,
      publishBacklog: s.publishBacklog,
      historyBacklog: o.history.status().backlog,
      publishP50Ms: lat.p50Ms,
      publishP99Ms: lat.p99Ms,
    };
  });

  const stopAndFlush = async () => {
    stopping ??= (async () => {
      // Bounded: Cloud Run kills the instance 10 s after SIGTERM whatever we do,
      // and a bus that never answers must not hold POST /stop for ever.
      const deadline = Date.now() + o.subscriber.shutdownGraceMs;
      await connection.disconnect();
      const drained = await ingest.drain(deadline - Date.now());
      const flushed = drained && (await settlesBy(Promise.all([o.publisher.flush(), o.history.flush()]), deadline));
      await connection.release();
      if (!flushed) {
        log.error('stopped with work still pending', { ...ingest.stats().totals, publishBacklog: ingest.stats().publishBacklog, historyBacklog: o.history.status().backlog });
      }
      return flushed;
    })().finally(() => {
      stopping = null;
    });
    return stopping;
  };

  const app = express();
  app.disable('x-powered-by');
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/status', (_req, res) => {
    res.json(status());
  });
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  app.post('/start', (_req, res) => {
    const before = client.status().state;
    connection.start();
    log.info('start requested', { before });
    res.status(before === 'stopped' ? 202 : 200).json({ state: client.status().state, alreadyStarted: before !== 'stopped' });
  });
  app.post('/stop', async (_req, res, next) => {
    try {
      log.info('stop requested');
      const flushed = await stopAndFlush();
      res.status(flushed ? 200 : 503).json({ state: client.status().state, flushed, totals: ingest.stats().totals });
    } catch (err) {
      next(err);
    }
  });
  app.post('/test-pubsub', async (_req, res, next) => {
    try {
      const results = await ingest.publishTest(`test-${Date.now()}`);
      const ok = Object.values(results).every((r) => r.ok);
      res.status(ok ? 200 : 502).json({ ok, topics: results });
    } catch (err) {
      next(err);
    }
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    log.error('control request failed', { error: err.message });
    res.status(500).json({ error: redact(err.message) });
  });

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(o.port, o.host ?? '0.0.0.0', () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;

  // Cloud Run can restart the instance at any time: inside the window, resume by ourselves.
  let wasInWindow = inWindow(now(), window);
  if (o.subscriber.autoStart && wasInWindow) {
    log.info('inside the daily window at boot; connecting to Tote', { ...window });
    connection.start();
  }
  // Act on window edges only, so a manual /start or /stop inside the window is respected.
  const windowTimer = setInterval(() => {
    const inside = inWindow(now(), window);
    if (o.subscriber.autoStart && inside && !wasInWindow) connection.start();
    if (o.subscriber.autoStart && !inside && wasInWindow) void stopAndFlush();
    wasInWindow = inside;
  }, o.windowCheckMs ?? 30_000);
  windowTimer.unref();

  // Per-type counts since the previous line: log-based metrics count these
  // lines' values into rates (they cannot difference cumulative counters).
  const lastCounts = new Map<string, { received: number; published: number; deadLettered: number }>();
  const statsTimer = setInterval(() => {
    const s = ingest.stats();
    for (const [type, c] of Object.entries(s.types)) {
      const prev = lastCounts.get(type) ?? { received: 0, published: 0, deadLettered: 0 };
      log.info('subscriber type stats', {
        type,
        received: c.received - prev.received,
        published: c.published - prev.published,
        deadLettered: c.deadLettered - prev.deadLettered,
      });
      lastCounts.set(type, { received: c.received, published: c.published, deadLettered: c.deadLettered });
    }
    const pick = (f: 'received' | 'published' | 'deadLettered') =>
      Object.fromEntries(Object.entries(s.types).map(([t, c]) => [t, c[f]]));
    log.info('subscriber stats', {
      state: client.status().state,
      received: pick('received'),
      published: pick('published'),
      deadLettered: pick('deadLettered'),
      totals: s.totals,
      publishBacklog: s.publishBacklog,
      historyBacklog: o.history.status().backlog,
      publishLatency: publishLatency(),
      reconnects: client.status().reconnects,
    });
  }, o.statsIntervalMs ?? 60_000);
  statsTimer.unref();

  return {
    url: `http://${!o.host || o.host === '0.0.0.0' ? 'localhost' : o.host}:${port}`,
    port,
    client,
    ingest,
    start: () => connection.start(),
    status,
    stopAndFlush,
    /**
     * SIGTERM: stop the socket, give the bus what the grace leaves after the
     * history's share, then always close the history (it stores or spills
     * what it holds), so a failing warehouse cannot eat the rows at exit.
     */
    async close() {
      clearInterval(windowTimer);
      clearInterval(statsTimer);
      const deadline = Date.now() + o.subscriber.shutdownGraceMs;
      const busDeadline = deadline - (o.historyCloseMs ?? 0) - 500;
      await relay?.stop();
      await connection.disconnect();
      const drained = await ingest.drain(Math.max(0, busDeadline - Date.now()));
      const flushed = drained && (await settlesBy(o.publisher.flush(), busDeadline));
      await settlesBy(connection.release(), deadline);
      if (!flushed) log.error('bus not flushed at shutdown', { ...ingest.stats().totals, publishBacklog: ingest.stats().publishBacklog });
      await o.history.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await settlesBy(o.publisher.close(), deadline);
    },
  };
}

/** True if `p` settles before `deadline` (epoch ms), false otherwise. */
async function settlesBy(p: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([p.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
