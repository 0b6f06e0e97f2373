export type { SseStatus } from './status.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hasDayCards, type EnvelopeSource } from '../bus/types.js';
import { MESSAGE_TYPES } from '../catalog/catalog.js';
import type { SseConfig } from '../config/sse.js';
import { isCompletenessSource, isReportingSource, type SourceStatus } from '../bus/source-capabilities.js';
import { log as rootLog, type Logger } from '../log/logger.js';
import type { DashboardConfig } from './contract/types.js';
import { listenOrExplain } from '../process/listen.js';
import { StreamAccess } from './access.js';
import { createApp } from './app.js';
import { eventsRoute } from './events-route.js';
import { History } from './history.js';
import { Hub } from './hub.js';
import { SseMetrics } from './metrics.js';
import type { SseStatus } from './status.js';
import { NameDirectory } from './names.js';
import { SNAPSHOT_RULES, SnapshotState } from './snapshot.js';

export interface SseServiceOptions {
  readonly config: SseConfig;
  readonly source: EnvelopeSource;
  readonly log?: Logger;
  /** Overrides config.host (tests and the all-in-one bind to loopback). */
  readonly host?: string;
}

export interface SseService {
  readonly port: number;
  readonly url: string;
  /** Ends every open stream (clients reconnect and resume); the service keeps running. */
  endStreams(): number;
  /** Sockets the HTTP server holds open (streams and keep-alive requests): what a stream ended but not closed would leak. */
  openSockets(): Promise<number>;
  status(): SseStatus;
  close(): Promise<void>;
}

/**
 * Starts the SSE service on `config.port` (0 = any free port): the event
 * stream, snapshot, names, status, metrics and the dashboard, fed from
 * `source` (the in-process bus locally, the Pub/Sub consumer in the cloud).
 */
export async function startSseService(opts: SseServiceOptions): Promise<SseService> {
  const { source } = opts;
  const config: SseConfig = opts.host ? { ...opts.config, host: opts.host } : opts.config;
  const log = (opts.log ?? rootLog).child({ component: 'sse', instanceId: config.instanceId });
  const startedAt = Date.now();

  const history = new History(config.historyMaxEvents, config.historyMaxBytes);
  const snapshot = new SnapshotState({
    maxProducts: config.snapshotMaxProducts,
    maxEvents: config.snapshotMaxEvents,
    maxChildren: config.snapshotMaxChildren,
    maxAgeMs: config.snapshotMaxAgeMs,
  });
  const hub = new Hub({
    heartbeatMs: config.heartbeatMs,
    retryMs: config.retryMs,
    maxConnectionMs: config.maxConnectionMs,
    maxConnections: config.maxConnections,
    clientLimits: { maxBufferBytes: config.clientMaxBufferBytes, maxPendingEvents: config.clientMaxPendingEvents },
    history,
    snapshot,
    log,
    // Only streams fed by Pub/Sub can move between instances; the in-process bus has one order and streams at once.
    reorderWindowMs: isCompletenessSource(source) ? config.reorderWindowMs : 0,
    reorderMaxHeld: config.reorderMaxEvents,
  });
  const metrics = new SseMetrics({
    connections: () => hub.connections,
    historyEvents: () => history.size,
    historyBytes: () => history.bytes,
    snapshotProducts: () => snapshot.productCount,
    snapshotEvents: () => snapshot.eventCount,
    reorder: () => ({ holding: hub.reorder.size, ...hub.reorder.counts }),
  });
  hub.attachMetrics(metrics);

  // Names come with the day cards the subscriber publishes; a source without them gives ids only.
  const names = hasDayCards(source) ? new NameDirectory({ source, log }) : undefined;
  names?.onChange((version) => hub.broadcastControl('names', { version }));

  const access = new StreamAccess(config.access, log);

  const sourceStatus = (): SourceStatus => (isReportingSource(source) ? source.status() : { kind: 'memory', state: 'running' });

  const status = (): SseStatus => {
    const now = Date.now();
    return {
      service: 'sse',
      instanceId: config.instanceId,
      startedAt: new Date(startedAt).toISOString(),
      uptimeS: Math.round((now - startedAt) / 1000),
      connections: hub.connections,
      ...hub.counts,
      eventsReceived: hub.counts.received,
      eventsSent: hub.counts.delivered,
      lastEventAt: hub.lastEventAt === null ? null : new Date(hub.lastEventAt).toISOString(),
      ratesPerType: hub.rates.snapshot(now),
      lagMs: { p50: hub.lag.percentile(50), p90: hub.lag.percentile(90), p99: hub.lag.percentile(99) },
      history: {
        events: history.size,
        bytes: history.bytes,
        maxEvents: history.maxEvents,
        maxBytes: history.maxBytes,
        oldestId: history.oldestId(),
        newestId: history.newestId(),
        completeSince: new Date(history.completeSince).toISOString(),
      },
      reorder: { windowMs: hub.reorder.windowMs, holding: hub.reorder.size, sessions: hub.reorder.sessionCount, ...hub.reorder.counts },
      snapshot: { products: snapshot.productCount, events: snapshot.eventCount, evicted: snapshot.evicted },
      source: sourceStatus(),
      names: names?.status() ?? { enabled: false },
      access: access.status(),
      limits: {
        maxConnections: config.maxConnections,
        clientMaxBufferBytes: config.clientMaxBufferBytes,
        clientMaxPendingEvents: config.clientMaxPendingEvents,
        heartbeatMs: config.heartbeatMs,
        maxConnectionMs: config.maxConnectionMs,
      },
    };
  };

  const app = createApp({
    hub,
    metrics,
    log,
    extraRegistries: () => [
      access.metricsRegistry,
      ...(isReportingSource(source) && source.metricsRegistry ? [source.metricsRegistry] : []),
    ],
    names,
    corsOrigins: config.corsOrigins,
    access,
    dashboardConfig: (): DashboardConfig => ({
      staleAfterMs: config.staleAfterMs,
      heartbeatMs: config.heartbeatMs,
      feedWindow: config.feedWindow,
      names: Boolean(names),
      messageTypes: MESSAGE_TYPES,
      // A page holds what the snapshot holds, and remembers as many ids as a resume can replay.
      limits: { ...snapshot.limits, seenIds: history.maxEvents },
      rules: SNAPSHOT_RULES,
    }),
    status,
    health: () => {
      const s = sourceStatus();
      const ok = s.state !== 'closed' && s.state !== 'closing';
      return { ok, detail: { source: s.state, connections: hub.connections } };
    },
  });

  // Resume is promised only for ids stamped once this instance has every message: from now on for
  // the in-process bus; for the Pub/Sub consumer from what its subscriptions guarantee (the seek
  // target where the topics retain the replay, else the moment the last one was active).
  const stopGaps = isCompletenessSource(source)
    ? (history.markCompleteSince(source.completeSince() || Date.now()),
      source.onGap((at) => {
        history.markCompleteSince(at);
        hub.broadcastResync('gap');
      }))
    : (history.markCompleteSince(Date.now()), () => {});
  const unsubscribe = source.subscribe((e, order) => hub.ingest(e, order));

  const events = eventsRoute({ hub, corsOrigins: config.corsOrigins, log, access });
  const server: Server = createServer((req, res) => {
    if (!events(req, res)) app(req, res);
  });
  // Streams live for up to an hour: no socket or request timeouts on this server.
  server.requestTimeout = 0;
  server.timeout = 0;
  try {
    await listenOrExplain(server, config.port, config.host, 'PORT');
  } catch (err) {
    unsubscribe();
    stopGaps();
    hub.stop();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${shownHost}:${port}`;
  names?.start();

  const statsTimer = setInterval(() => {
    const lag = hub.lag.summary();
    log.info('sse stats', {
      connections: hub.connections,
      lagP50Ms: lag.p50Ms,
      lagP99Ms: lag.p99Ms,
      droppedSlowClients: hub.counts.droppedSlowClients,
      eventsReceived: hub.counts.received,
      eventsSent: hub.counts.delivered,
      rejected: hub.counts.rejected,
      historyEvents: history.size,
      historyBytes: history.bytes,
      sourceState: sourceStatus().state,
    });
  }, config.statsLogMs);
  statsTimer.unref();

  log.info('sse service listening', { url, source: sourceStatus().kind, names: Boolean(names), access: config.access.mode });

  let closing: Promise<void> | undefined;
  return {
    port,
    url,
    endStreams: () => hub.endAll('shutdown'),
    openSockets: () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    status,
    close: () =>
      (closing ??= (async () => {
        clearInterval(statsTimer);
        unsubscribe();
        stopGaps();
        names?.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        hub.stop();
        server.closeAllConnections();
        await closed;
      })()),
  };
}
