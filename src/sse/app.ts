import express, { type NextFunction, type Request, type Response } from 'express';
import { fileURLToPath } from 'node:url';
import { FilterError, parseFilter } from './filter.js';
import { NO_STORE_HEADERS, SSE_HEADERS } from './headers.js';
import type { Hub } from './hub.js';
import type { SseMetrics } from './metrics.js';
import { NO_NAMES, type NameDirectory } from './names.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';

export interface AppDeps {
  readonly hub: Hub;
  readonly metrics: SseMetrics;
  readonly log: Logger;
  readonly extraRegistries: () => readonly Registry[];
  readonly names: NameDirectory | undefined;
  readonly corsOrigins: readonly string[];
  readonly dashboardConfig: () => unknown;
  readonly status: () => Record<string, unknown>;
  readonly health: () => { ok: boolean; detail: Record<string, unknown> };
}

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
/** Ids are UUIDs (36 characters); anything much longer is not ours and is not looked up. */
const MAX_LAST_EVENT_ID = 100;

/** Allowed-origin check for cross-origin dashboards; same-origin pages need none of it. */
function corsHeaders(origins: readonly string[], origin: string | undefined): Record<string, string> {
  if (!origin || origins.length === 0) return {};
  if (origins.includes('*')) return { 'Access-Control-Allow-Origin': '*' };
  if (origins.includes(origin)) return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
  return {};
}

function lastEventIdOf(req: Request): string | undefined {
  // The header wins: EventSource sends it on every reconnect, while the query
  // parameter (for the first request, which cannot carry headers) stays in
  // the URL and would be stale.
  const header = req.get('last-event-id');
  const query = typeof req.query.lastEventId === 'string' ? req.query.lastEventId : undefined;
  const id = (header ?? query)?.trim();
  if (!id) return undefined;
  return id.slice(0, MAX_LAST_EVENT_ID);
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const cors = corsHeaders(deps.corsOrigins, req.get('origin'));
    res.locals.cors = cors;
    for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
    if (req.method === 'OPTIONS' && Object.keys(cors).length) {
      res.setHeader('Access-Control-Allow-Methods', 'GET, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Last-Event-ID, Cache-Control');
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  });

  app.get('/events', (req: Request, res: Response) => {
    let filter;
    try {
      filter = parseFilter(req.query as Record<string, unknown>);
    } catch (err) {
      if (err instanceof FilterError) {
        res.status(400).json({ error: err.message });
        return;
      }
      throw err;
    }
    if (req.method === 'HEAD') {
      // A probe, not a viewer: answer the headers without registering a stream.
      res.writeHead(200, { ...SSE_HEADERS, ...(res.locals.cors as Record<string, string>) }).end();
      return;
    }
    deps.hub.open(req, res, filter, lastEventIdOf(req), res.locals.cors as Record<string, string>);
  });

  app.get('/snapshot', (_req: Request, res: Response) => {
    const hub = deps.hub;
    res.set(NO_STORE_HEADERS).json({
      generatedAt: new Date().toISOString(),
      // Open /events?lastEventId=<this> to stream on from exactly this state.
      lastEventId: hub.history.newestId(),
      ...hub.snapshot.toJSON(),
      limits: hub.snapshot.limits,
    });
  });

  app.get('/names', async (req: Request, res: Response) => {
    res.set(NO_STORE_HEADERS);
    if (!deps.names) {
      res.json(NO_NAMES);
      return;
    }
    // Runner and selection names make this the largest answer the service gives; most of it is ids, which compress well.
    const body = deps.names.body();
    res.type('application/json').vary('Accept-Encoding');
    const gzipped = req.acceptsEncodings('gzip') === 'gzip' ? await body.gzip.catch(() => undefined) : undefined;
    if (gzipped) res.set('Content-Encoding', 'gzip').send(gzipped);
    else res.send(body.json);
  });

  app.get('/config.json', (_req: Request, res: Response) => {
    res.set(NO_STORE_HEADERS).json(deps.dashboardConfig());
  });

  app.get('/health', (_req: Request, res: Response) => {
    const h = deps.health();
    res.set(NO_STORE_HEADERS).status(h.ok ? 200 : 503).json({ status: h.ok ? 'ok' : 'unavailable', ...h.detail });
  });

  app.get('/status', (_req: Request, res: Response) => {
    res.set(NO_STORE_HEADERS).json(deps.status());
  });

  app.get('/metrics', async (_req: Request, res: Response) => {
    const { contentType, body } = await deps.metrics.text(deps.extraRegistries());
    res.set(NO_STORE_HEADERS).type(contentType).send(body);
  });

  app.use(
    express.static(PUBLIC_DIR, {
      index: 'index.html',
      // The dashboard is tiny; always revalidate so a deploy is picked up on reload.
      setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache'),
    }),
  );

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    deps.log.error('request failed', { err, path: req.path });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(500).json({ error: 'internal error' });
  });

  return app;
}
