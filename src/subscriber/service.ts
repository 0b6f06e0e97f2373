import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { canPublishDayCards, type EnvelopePublisher } from '../bus/types.js';
import type { SubscriberConfig } from '../config/subscriber.js';
import type { ToteConfig } from '../config/tote.js';
import type { Envelope } from '../envelope/envelope.js';
import type { HistorySink } from '../history/types.js';
import type { Logger } from '../log/logger.js';
import { ToteClient } from '../tote/client.js';
import { resolveSecret, type SecretResolver } from '../tote/secrets.js';
import { DayCardRelay } from './day-card-relay.js';
import { Ingest } from './ingest.js';
import { LeasedConnection } from './leased-connection.js';
import { createControlApp } from './control-api.js';
import { listenOrExplain } from '../process/listen.js';
import { createSubscriberMetrics } from './metrics.js';
import { readiness } from './readiness.js';
import type { PublishLatency, SubscriberStatus } from './status.js';
import { inWindow, type DailyWindow } from '../window/daily-window.js';
import { settlesBy } from '../deadline/deadline.js';
import { Reconciler } from './reconcile/reconciler.js';

/** What closing takes after the history: the control server and the publisher (already flushed). */
const CLOSE_TAIL_MS = 500;

export interface SubscriberServiceOptions {
  tote: ToteConfig;
  subscriber: SubscriberConfig;
  publisher: EnvelopePublisher;
  history: HistorySink;
  log: Logger;
  /** Port to listen on (0 = any free port). */
  port: number;
  host?: string;
  /** The variable that set the port, named when it is taken (PORT or SUBSCRIBER_PORT). */
  portVariable?: string;
  /** When set, POST /start, /stop and /test-pubsub need `Authorization: Bearer <token>`. */
  controlToken?: string;
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
  status(): SubscriberStatus;
  /**
   * Stop the Tote socket and flush the bus and history (what POST /stop and
   * SIGTERM do). Resolves false if something was still pending after the
   * shutdown grace.
   */
  stopAndFlush(): Promise<boolean>;
  /** `deadline` (epoch ms) when the process must also close other parts after this one; by default the whole grace from now. */
  close(deadline?: number): Promise<void>;
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
          // The card goes to the SSE side and into history (names beside the ids for analysts).
          publisher: {
            publishDayCard: async (card) => {
              const kept = o.history
                .writeDayCard?.(card)
                .catch((err: Error) => log.warn('day card not kept in history', { error: err.message }));
              await publisher.publishDayCard(card);
              await kept;
            },
          },
          graphqlUrl,
          apiKey: queryKey,
          resolveSecret: o.resolveSecret ?? resolveSecret,
          refreshMs: o.tote.dayCardRefreshMs,
          minGapMs: o.tote.dayCardMinGapMs,
          active: () => client.status().state !== 'stopped',
          log: log.child({ component: 'day-card' }),
        })
      : null;
  // Tote's socket has no replay: after every connect the gateway is asked what the feed missed.
  const dayIn = new Intl.DateTimeFormat('en-CA', { timeZone: o.subscriber.timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  const reconciler =
    graphqlUrl && queryKey && o.tote.reconcile.enabled
      ? new Reconciler({
          config: o.tote.reconcile,
          graphqlUrl,
          apiKey: queryKey,
          resolveSecret: o.resolveSecret ?? resolveSecret,
          emit: (entry, payload, connectionId) => ingest.handleReconciled(entry, payload, connectionId),
          hasRoom: () => ingest.hasRoom(),
          active: () => client.status().state !== 'stopped',
          today: () => dayIn.format(now()),
          log: log.child({ component: 'reconcile' }),
        })
      : null;
  const observe = (e: Envelope) => {
    relay?.observe(e);
    reconciler?.observe(e);
  };
  const ingest = new Ingest({
    publisher: o.publisher,
    history: o.history,
    log,
    instanceId: o.subscriber.instanceId,
    source: o.source ?? 'tote',
    ...(o.maxInFlight ? { maxInFlight: o.maxInFlight } : {}),
    onPressure: (paused) => (paused ? client.pause() : client.resume()),
    onEnvelope: observe,
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
      onConnected: ({ connectionId, reconnect }) => reconciler?.request(reconnect ? 'reconnect' : 'connect', connectionId),
    },
  });

  // Read once (it may be an sm:// reference) and registered for redaction like the API key.
  const controlToken = o.controlToken ? await (o.resolveSecret ?? resolveSecret)(o.controlToken) : undefined;

  const connection = new LeasedConnection(client, o.subscriber, log);

  await o.publisher.connect();
  await o.history.connect();

  relay?.start();
  const startedAt = new Date();
  let stopping: Promise<boolean> | null = null;

  const publishLatency = (): PublishLatency => o.publisher.publishLatency?.() ?? { p50Ms: null, p99Ms: null, samples: 0 };

  const status = (): SubscriberStatus => {
    const c = client.status();
    const s = ingest.stats();
    const h = o.history.status();
    const lat = publishLatency();
    const win = { ...window, inWindow: inWindow(now(), window) };
    const bus = o.publisher.health?.() ?? null;
    const lease = connection.status();
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
      framesReceived: c.framesReceived,
      keepAlives: c.keepAlives,
      window: win,
      readiness: readiness({ client: c, inWindow: win.inWindow, bus, lease }),
      operations: c.operations,
      totals: s.totals,
      types: s.types,
      deadLetterReasons: s.deadLetterReasons,
      deadLettersNotPublished: s.deadLettersNotPublished,
      publish: {
        bus: o.publisher.name,
        backlog: s.publishBacklog,
        busBacklog: o.publisher.backlog(),
        health: bus,
        latency: lat,
        delivery: o.publisher.deliveryStatus?.() ?? null,
      },
      history: h,
      dayCard: relay?.status() ?? null,
      reconciliation: reconciler?.status() ?? { enabled: false },
      lease,
    };
  };

  const metrics = createSubscriberMetrics(status, () => o.publisher.publishLatencyHistogram?.() ?? null);

  const stopAndFlush = async () => {
    stopping ??= (async () => {
      // Bounded: Cloud Run kills the instance 10 s after SIGTERM whatever we do,
      // and a bus that never answers must not hold POST /stop for ever.
      const deadline = Date.now() + o.subscriber.shutdownGraceMs;
      await connection.disconnect();
      const drained = await ingest.drain(deadline - Date.now());
      const flushed = drained && (await settlesBy(Promise.all([o.publisher.flush(), o.history.flush()]), deadline));
      // After the flush, so the next holder's messages for a product cannot overtake this one's backlog.
      await connection.release();
      if (!flushed) {
        log.error('stopped with work still pending', {
          ...ingest.stats().totals,
          publishBacklog: ingest.stats().publishBacklog,
          historyBacklog: o.history.status().backlog,
        });
      }
      return flushed;
    })().finally(() => {
      stopping = null;
    });
    return stopping;
  };

  const app = createControlApp({
    log,
    controlToken,
    actions: {
      status,
      metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() }),
      start: () => {
        const before = client.status().state;
        connection.start();
        return { before, after: client.status().state };
      },
      stop: async () => {
        const flushed = await stopAndFlush();
        return { flushed, state: client.status().state, totals: ingest.stats().totals };
      },
      testPublish: async () => {
        const topics = await ingest.publishTest(`test-${Date.now()}`);
        return { ok: Object.values(topics).every((r) => r.ok), topics };
      },
    },
  });

  let server: Server;
  try {
    server = await listenOrExplain(createServer(app), o.port, o.host ?? '0.0.0.0', o.portVariable ?? 'SUBSCRIBER_PORT');
  } catch (err) {
    await Promise.allSettled([relay?.stop(), o.history.close(), o.publisher.close()]);
    throw err;
  }
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
      log.figures('subscriber type stats', {
        type,
        received: c.received - prev.received,
        published: c.published - prev.published,
        deadLettered: c.deadLettered - prev.deadLettered,
      });
      lastCounts.set(type, { received: c.received, published: c.published, deadLettered: c.deadLettered });
    }
    const pick = (f: 'received' | 'published' | 'deadLettered') => Object.fromEntries(Object.entries(s.types).map(([t, c]) => [t, c[f]]));
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
    async close(deadline = Date.now() + o.subscriber.shutdownGraceMs) {
      clearInterval(windowTimer);
      clearInterval(statsTimer);
      const busDeadline = deadline - (o.historyCloseMs ?? 0) - 500;
      await relay?.stop();
      await reconciler?.stop();
      await connection.disconnect();
      const drained = await ingest.drain(Math.max(0, busDeadline - Date.now()));
      const flushed = drained && (await settlesBy(o.publisher.flush(), busDeadline));
      await settlesBy(connection.release(), deadline);
      if (!flushed) log.error('bus not flushed at shutdown', { ...ingest.stats().totals, publishBacklog: ingest.stats().publishBacklog });
      // At least its share; and the grace the bus did not need, less the little the steps below take.
      // Spilling rows at exit while seconds of grace were left only postpones them to a replay.
      await o.history.close(Math.max(o.historyCloseMs ?? 0, deadline - Date.now() - CLOSE_TAIL_MS));
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await settlesBy(o.publisher.close(), deadline);
    },
  };
}
