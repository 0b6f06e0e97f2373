import express, { type NextFunction, type Request, type Response } from 'express';
import { fileURLToPath } from 'node:url';
import { refusalHeaders, type Grant, type StreamAccess } from './access.js';
import { corsHeaders } from './cors.js';
import { NO_STORE_HEADERS } from './headers.js';
import type { Hub } from './hub.js';
import type { SseMetrics } from './metrics.js';
import { NO_NAMES, type NameDirectory } from './names.js';
import { snapshotOfTypes } from './snapshot.js';
import type { SseStatus } from './status.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';
import type { SnapshotResponse } from './contract/types.js';

export interface AppDeps {
  readonly hub: Hub;
  readonly metrics: SseMetrics;
  readonly log: Logger;
  readonly extraRegistries: () => readonly Registry[];
  readonly names: NameDirectory | undefined;
  readonly corsOrigins: readonly string[];
  readonly access: StreamAccess;
  readonly dashboardConfig: () => unknown;
  readonly status: () => SseStatus;
  readonly health: () => { ok: boolean; detail: Record<string, unknown> };
}

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** Snapshots serialized for readers limited to some types, one per distinct set; past this the oldest goes. */
const MAX_RESTRICTED_SNAPSHOTS = 16;
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const cors = corsHeaders(deps.corsOrigins, req.get('origin'), deps.access.usesCookies);
    res.locals.cors = cors;
    for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
    if (req.method === 'OPTIONS' && Object.keys(cors).length) {
      res.setHeader('Access-Control-Allow-Methods', 'GET, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Last-Event-ID, Cache-Control, Authorization');
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  });

  // GET and HEAD /events are served ahead of Express (events-route.ts); only their CORS preflight comes here.

  // Every page opening or resyncing asks for it, often many at once after a deploy: serialized once
  // per change (keyed by the newest id held, which moves with every event applied).
  // Readers limited to some message types get a snapshot of those only, cached the same way per set of types.
  const snapshotBodies = new Map<string, { key: string | null; json: Buffer }>();
  app.get('/snapshot', tokenRequired(deps.access), (_req: Request, res: Response) => {
    const hub = deps.hub;
    const key = hub.history.newestId();
    const types = (res.locals.grant as Grant & { ok: true }).types;
    const setKey = types ? [...types].sort().join(',') : '*';
    let cached = snapshotBodies.get(setKey);
    if (!cached || cached.key !== key) {
      const whole = hub.snapshot.toJSON();
      const body: SnapshotResponse = {
        generatedAt: new Date().toISOString(),
        // Open /events?lastEventId=<this> to stream on from exactly this state.
        lastEventId: key,
        ...(types ? snapshotOfTypes(whole, types) : whole),
        limits: hub.snapshot.limits,
      };
      cached = { key, json: Buffer.from(JSON.stringify(body)) };
      snapshotBodies.delete(setKey);
      snapshotBodies.set(setKey, cached);
      if (snapshotBodies.size > MAX_RESTRICTED_SNAPSHOTS + 1) snapshotBodies.delete(snapshotBodies.keys().next().value!);
    }
    res.set(NO_STORE_HEADERS).type('application/json').send(cached.json);
  });

  app.get('/names', tokenRequired(deps.access), async (req: Request, res: Response) => {
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
    res
      .set(NO_STORE_HEADERS)
      .status(h.ok ? 200 : 503)
      .json({ status: h.ok ? 'ok' : 'unavailable', ...h.detail });
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

/**
 * Lets the request through when its token is good (the grant goes in
 * res.locals.grant), or answers 401/403 with the reason and an RFC 6750
 * challenge. With access public every request is granted everything.
 */
function tokenRequired(access: StreamAccess) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const grant = await access.check(req, req.query);
    if (!grant.ok) {
      res.status(grant.status).set(refusalHeaders(grant)).json({ error: grant.error });
      return;
    }
    res.locals.grant = grant;
    next();
  };
}
