import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { redact, type Logger } from '../log/logger.js';
import type { SubscriberStatus } from './status.js';

export interface ControlActions {
  status(): SubscriberStatus;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** POST /start: returns the state before and after. */
  start(): { before: string; after: string };
  stop(): Promise<{ flushed: boolean; state: string; totals: SubscriberStatus['totals'] }>;
  testPublish(): Promise<{ ok: boolean; topics: Record<string, unknown> }>;
}

/** The endpoints, for GET / and for the docs: one list, so the index cannot fall behind. */
export const CONTROL_ENDPOINTS = [
  { method: 'GET', path: '/health', auth: false, what: 'liveness: 200 while the process serves, connected to Tote or not' },
  {
    method: 'GET',
    path: '/ready',
    auth: false,
    what: 'readiness: 200 when serving inside the window (or correctly idle outside it), else 503 with the reasons',
  },
  { method: 'GET', path: '/status', auth: false, what: 'connection, subscriptions, per-type counters, bus, history, day card (JSON)' },
  { method: 'GET', path: '/metrics', auth: false, what: 'the same figures as /status in Prometheus text format' },
  { method: 'POST', path: '/start', auth: true, what: 'connect to Tote and subscribe (idempotent)' },
  {
    method: 'POST',
    path: '/stop',
    auth: true,
    what: 'close the Tote socket and flush the bus and history; 503 if work is still pending after the grace',
  },
  { method: 'POST', path: '/test-pubsub', auth: true, what: 'publish a test message to every topic' },
] as const;

/**
 * The subscriber's control API. The POST endpoints change what the service
 * does; when a control token is configured they need `Authorization: Bearer
 * <token>`. In the cloud they sit behind Cloud Run IAM (only the scheduler's
 * account may invoke the service), and the token is an optional second lock.
 */
export function createControlApp(o: { actions: ControlActions; log: Logger; controlToken?: string | undefined }): Express {
  const { actions, log } = o;
  const app = express();
  app.disable('x-powered-by');
  const requireToken = bearerCheck(o.controlToken);

  app.get('/', (_req, res) => {
    res.json({
      service: 'subscriber',
      endpoints: CONTROL_ENDPOINTS.map((e) => ({
        ...e,
        auth: e.auth && o.controlToken ? 'bearer token' : e.auth ? 'none configured' : 'none',
      })),
    });
  });
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/ready', (_req, res) => {
    const r = actions.status().readiness;
    res.status(r.ready ? 200 : 503).json(r);
  });
  app.get('/status', (_req, res) => {
    res.json(actions.status());
  });
  app.get('/metrics', async (_req, res, next) => {
    try {
      const m = await actions.metrics();
      res.type(m.contentType).send(m.body);
    } catch (err) {
      next(err);
    }
  });
  app.post('/start', requireToken, (_req, res) => {
    const { before, after } = actions.start();
    log.info('start requested', { before });
    res.status(before === 'stopped' ? 202 : 200).json({ state: after, alreadyStarted: before !== 'stopped' });
  });
  app.post('/stop', requireToken, async (_req, res, next) => {
    try {
      log.info('stop requested');
      const r = await actions.stop();
      res.status(r.flushed ? 200 : 503).json(r);
    } catch (err) {
      next(err);
    }
  });
  app.post('/test-pubsub', requireToken, async (_req, res, next) => {
    try {
      const r = await actions.testPublish();
      res.status(r.ok ? 200 : 502).json(r);
    } catch (err) {
      next(err);
    }
  });
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found', endpoints: CONTROL_ENDPOINTS.map((e) => `${e.method} ${e.path}`) });
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    log.error('control request failed', { error: err.message });
    res.status(500).json({ error: redact(err.message) });
  });
  return app;
}

/** Compares digests, so neither the token's length nor its bytes leak through timing. */
function bearerCheck(token: string | undefined) {
  const want = token ? createHash('sha256').update(token).digest() : null;
  return (req: Request, res: Response, next: NextFunction) => {
    if (!want) return next();
    const m = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    const got = m ? createHash('sha256').update(m[1]!).digest() : null;
    if (got && timingSafeEqual(got, want)) return next();
    res
      .status(401)
      .set('WWW-Authenticate', 'Bearer realm="subscriber-control"')
      .json({ error: 'this endpoint needs Authorization: Bearer <SUBSCRIBER_CONTROL_TOKEN>' });
  };
}
