import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { ConfigError, loadConfig } from '../src/config/index.js';
import type { Env } from '../src/config/env.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import { poolTotal as poolTotalOf, testEnvelope } from './helpers/envelopes.js';
import { waitFor } from './helpers/ports.js';
import { SseStream } from './helpers/sse-stream.js';

const logLines: string[] = [];
setLogWriter((l) => {
  logLines.push(l);
  if (logLines.length > 2000) logLines.splice(0, 1000);
});
const log = createLogger({ test: 'sse-access' });

const SECRET = 'a-shared-secret-of-at-least-32-bytes-9d41c7';
const OTHER_SECRET = 'another-secret-of-at-least-32-bytes-000000';
const AUDIENCE = '/projects/123/locations/europe-west2/services/tote-sse';

const poolTotal = (productId: string) => poolTotalOf(productId);
const eventStatus = (eventId: string) => testEnvelope('EventStatusChanged', { eventId, status: 'STARTED' });

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(env: Env): Promise<{ sse: SseService; bus: MemoryBus }> {
  const config = loadConfig(env);
  const bus = new MemoryBus();
  const sse = await startSseService({ config: { ...config.sse, port: 0, host: '127.0.0.1' }, source: bus, log });
  cleanups.push(() => sse.close());
  return { sse, bus };
}

const hs = (claims: Record<string, unknown> = {}, secret = SECRET, expiresIn: string | number = '5m') =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('viewer-1')
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));

const stream = async (url: string, headers: Record<string, string> = {}) => {
  const s = await SseStream.open(url, headers);
  cleanups.push(() => s.close());
  if (s.status === 200) await waitFor(() => s.raw.includes('\n\n'), { what: 'the opening frame' });
  else await s.waitForEnd();
  return s;
};
const typesOn = (s: SseStream) => s.events.filter((e) => e.id !== undefined).map((e) => JSON.parse(e.data).type as string);

describe('SSE access: public by default', () => {
  it('serves the stream, snapshot and names to anyone when SSE_ACCESS is not set', async () => {
    const { sse } = await serve({});
    for (const path of ['/snapshot', '/names']) expect((await fetch(sse.url + path)).status).toBe(200);
    expect((await stream(`${sse.url}/events`)).status).toBe(200);
    expect(sse.status().access).toMatchObject({ mode: 'public', granted: 0 });
  });
});

describe('SSE access with HS256 tokens', () => {
  const env = { SSE_ACCESS: 'token', SSE_ACCESS_JWT_SECRET: SECRET };

  it('refuses /events, /snapshot and /names without a token, with a Bearer challenge', async () => {
    const { sse } = await serve(env);
    for (const path of ['/snapshot', '/names']) {
      const res = await fetch(sse.url + path);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="tote-sse"');
      expect((await res.json()).error).toMatch(/token is required/);
    }
    const s = await stream(`${sse.url}/events`);
    expect(s.status).toBe(401);
    expect(JSON.parse(s.raw).error).toMatch(
      /Authorization: Bearer header, the toteAuthorization cookie or the authorization query parameter/,
    );
    expect(sse.status().access.refused.missing).toBe(3);
  });

  it('takes a valid token from the Authorization header, the cookie or the query parameter, and streams', async () => {
    const { sse, bus } = await serve(env);
    const token = await hs();
    expect((await fetch(`${sse.url}/snapshot`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(`${sse.url}/names`, { headers: { Cookie: `theme=dark; toteAuthorization=${token}` } })).status).toBe(200);
    const viaQuery = await stream(`${sse.url}/events?authorization=${token}`);
    const viaCookie = await stream(`${sse.url}/events`, { Cookie: `toteAuthorization=${token}` });
    expect([viaQuery.status, viaCookie.status]).toEqual([200, 200]);
    const e = poolTotal('p-1');
    await bus.publish(e);
    for (const s of [viaQuery, viaCookie]) await waitFor(() => s.ids.includes(e.id), { what: 'the message on an authorized stream' });
    expect(sse.status().access.granted).toBe(4);
  });

  it('refuses an expired token, one signed with another key and one with an algorithm not allowed', async () => {
    const { sse } = await serve(env);
    const expired = await hs({}, SECRET, Math.floor(Date.now() / 1000) - 120);
    const wrongKey = await hs({}, OTHER_SECRET);
    const { privateKey } = await generateKeyPair('ES256');
    const es = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('5m').sign(privateKey);
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
    const answer = async (token: string) => {
      const res = await fetch(`${sse.url}/snapshot`, { headers: { Authorization: `Bearer ${token}` } });
      return { status: res.status, challenge: res.headers.get('www-authenticate'), error: (await res.json()).error as string };
    };
    expect(await answer(expired)).toMatchObject({ status: 401, error: 'token expired' });
    expect((await answer(expired)).challenge).toContain('error="invalid_token"');
    expect(await answer(wrongKey)).toMatchObject({ status: 401, error: 'invalid token: signature does not verify' });
    expect(await answer(es)).toMatchObject({ status: 401, error: 'invalid token: signing algorithm not accepted' });
    expect(await answer(noExp)).toMatchObject({ status: 401, error: expect.stringContaining('a claim does not hold') });
    expect(await answer('not.a.jwt')).toMatchObject({ status: 401 });
    const s = await stream(`${sse.url}/events?authorization=${expired}`);
    expect(s.status).toBe(401);
    expect(sse.status().access.refused).toMatchObject({ expired: 3, invalid: 4 });
  });

  it('lets a token restrict the message types its holder receives, on the stream and in the snapshot', async () => {
    const { sse, bus } = await serve(env);
    const poolsOnly = await hs({ tote: { types: ['PoolTotalChanged'] } });
    const before = [poolTotal('p-before'), eventStatus('e-before')];
    for (const e of before) await bus.publish(e);

    const s = await stream(`${sse.url}/events?authorization=${poolsOnly}`);
    const everything = await stream(`${sse.url}/events?authorization=${await hs()}`);
    const after = [eventStatus('e-after'), poolTotal('p-after')];
    for (const e of after) await bus.publish(e);
    await waitFor(() => everything.ids.includes(after[1]!.id) && s.ids.includes(after[1]!.id), { what: 'both streams caught up' });
    expect(typesOn(s)).toEqual(['PoolTotalChanged']);
    expect(typesOn(everything)).toEqual(['EventStatusChanged', 'PoolTotalChanged']);

    // Resuming replays only what the token allows, too.
    const resumed = await stream(`${sse.url}/events?authorization=${poolsOnly}&lastEventId=${before[0]!.id}`);
    await waitFor(() => resumed.ids.includes(after[1]!.id), { what: 'the replay' });
    expect(typesOn(resumed)).toEqual(['PoolTotalChanged']);

    const snap = await (await fetch(`${sse.url}/snapshot`, { headers: { Authorization: `Bearer ${poolsOnly}` } })).json();
    expect(Object.keys(snap.products).sort()).toEqual(['p-after', 'p-before']);
    expect(snap.events).toEqual({});
    const full = await (await fetch(`${sse.url}/snapshot`, { headers: { Authorization: `Bearer ${await hs()}` } })).json();
    expect(Object.keys(full.events).sort()).toEqual(['e-after', 'e-before']);

    // Asking for a type the token does not allow is refused plainly, not answered with silence.
    const refused = await stream(`${sse.url}/events?types=EventStatusChanged&authorization=${poolsOnly}`);
    expect(refused.status).toBe(403);
    expect(refused.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(JSON.parse(refused.raw).error).toBe('this token does not allow EventStatusChanged');
  });

  it('ends a stream when its token expires', async () => {
    const { sse } = await serve({ ...env, SSE_ACCESS_CLOCK_TOLERANCE_S: '0' });
    const shortLived = await hs({}, SECRET, Math.floor(Date.now() / 1000) + 2);
    const s = await stream(`${sse.url}/events?authorization=${shortLived}`);
    expect(s.status).toBe(200);
    await s.waitForEnd(15_000);
    // The reconnect EventSource makes with the same token is refused.
    expect((await stream(`${sse.url}/events?authorization=${shortLived}`)).status).toBe(401);
  });

  it('lets a listed cross-origin dashboard send its cookie, and never a wildcard one', async () => {
    const { sse } = await serve({ ...env, SSE_CORS_ORIGINS: 'https://dash.example.com' });
    const token = await hs();
    const res = await fetch(`${sse.url}/names`, { headers: { Origin: 'https://dash.example.com', Cookie: `toteAuthorization=${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://dash.example.com');
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    const s = await stream(`${sse.url}/events`, { Origin: 'https://dash.example.com', Cookie: `toteAuthorization=${token}` });
    expect(s.headers['access-control-allow-credentials']).toBe('true');
    const preflight = await fetch(`${sse.url}/snapshot`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://dash.example.com', 'Access-Control-Request-Headers': 'authorization' },
    });
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization');
    const { sse: open } = await serve({ ...env, SSE_CORS_ORIGINS: '*' });
    const wild = await fetch(`${open.url}/names`, {
      headers: { Origin: 'https://elsewhere.example.com', Authorization: `Bearer ${token}` },
    });
    expect(wild.headers.get('access-control-allow-origin')).toBe('*');
    expect(wild.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('never shows the secret or a token in /status, answers or logs', async () => {
    const { sse } = await serve(env);
    const token = await hs();
    const wrong = await hs({}, OTHER_SECRET);
    await fetch(`${sse.url}/names?authorization=${wrong}`);
    await fetch(`${sse.url}/names?authorization=${token}`);
    const status = await (await fetch(`${sse.url}/status`)).text();
    expect(status).toContain('"mode":"token"');
    for (const text of [status, logLines.join('\n'), await (await fetch(`${sse.url}/metrics`)).text()]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(token);
      expect(text).not.toContain(wrong);
    }
  });
});

describe('SSE access with keys from a JWKS URL', () => {
  let jwks: Server;
  let jwksUrl: string;
  let rsa: CryptoKey;
  let ec: CryptoKey;
  let unpublished: CryptoKey;

  beforeAll(async () => {
    const r = await generateKeyPair('RS256');
    const e = await generateKeyPair('ES256');
    rsa = r.privateKey;
    ec = e.privateKey;
    unpublished = (await generateKeyPair('ES256')).privateKey;
    const keys: JWK[] = [
      { ...(await exportJWK(r.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(e.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    jwks = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys })));
    await new Promise<void>((r2) => jwks.listen(0, '127.0.0.1', r2));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    jwks?.closeAllConnections();
    await new Promise((r) => jwks?.close(r));
  });

  const signed = (key: CryptoKey, alg: string, kid: string, claims: Record<string, unknown> = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg, kid })
      .setIssuer('https://login.example.com')
      .setAudience('tote-dashboards')
      .setExpirationTime('5m')
      .sign(key);

  it('accepts RS256 and ES256 tokens signed by a published key, and refuses others', async () => {
    const { sse } = await serve({
      SSE_ACCESS: 'token',
      SSE_ACCESS_JWKS_URL: jwksUrl,
      SSE_ACCESS_ISSUER: 'https://login.example.com',
      SSE_ACCESS_AUDIENCE: 'tote-dashboards',
    });
    const get = async (token: string) => (await fetch(`${sse.url}/names`, { headers: { Authorization: `Bearer ${token}` } })).status;
    expect(await get(await signed(rsa, 'RS256', 'rsa-1'))).toBe(200);
    expect(await get(await signed(ec, 'ES256', 'ec-1'))).toBe(200);
    expect(await get(await signed(unpublished, 'ES256', 'ec-2'))).toBe(401);
    expect(await get(await signed(unpublished, 'ES256', 'ec-1'))).toBe(401);
    expect(await get(await hs())).toBe(401); // no shared secret configured: an HMAC token cannot pass
    const otherAudience = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
      .setIssuer('https://login.example.com')
      .setAudience('someone-else')
      .setExpirationTime('5m')
      .sign(rsa);
    expect(await get(otherAudience)).toBe(401);
    const s = await stream(
      `${sse.url}/events?authorization=${await signed(ec, 'ES256', 'ec-1', { tote: { types: ['EventStatusChanged'] } })}`,
    );
    expect(s.status).toBe(200);
  });

  it('behind an identity-aware proxy, verifies its signed assertion and refuses a request that bypassed it', async () => {
    const { sse } = await serve({ SSE_ACCESS: 'iap', SSE_ACCESS_JWKS_URL: jwksUrl, SSE_ACCESS_AUDIENCE: AUDIENCE });
    const assertion = (audience: string) =>
      new SignJWT({ email: 'operator@example.com' })
        .setProtectedHeader({ alg: 'ES256', kid: 'ec-1' })
        .setIssuer('https://cloud.google.com/iap')
        .setAudience(audience)
        .setExpirationTime('5m')
        .sign(ec);
    const get = async (headers: Record<string, string>) => (await fetch(`${sse.url}/snapshot`, { headers })).status;
    expect(await get({ 'x-goog-iap-jwt-assertion': await assertion(AUDIENCE) })).toBe(200);
    expect(await get({})).toBe(401);
    expect(await get({ 'x-goog-iap-jwt-assertion': await assertion('/projects/123/locations/europe-west2/services/other') })).toBe(401);
    // A bearer token is no way round the proxy.
    expect(await get({ Authorization: `Bearer ${await assertion(AUDIENCE)}` })).toBe(401);
  });
});

describe('SSE access configuration', () => {
  it('names the variable when the configuration cannot work', () => {
    const problems = (env: Env) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ SSE_ACCESS: 'token' })).toContainEqual(expect.stringContaining('SSE_ACCESS=token needs SSE_ACCESS_JWT_SECRET'));
    expect(problems({ SSE_ACCESS: 'token', SSE_ACCESS_JWT_SECRET: 'short' })).toContainEqual(expect.stringContaining('at least 32 bytes'));
    expect(problems({ SSE_ACCESS: 'iap' })).toContainEqual(expect.stringContaining('SSE_ACCESS_AUDIENCE'));
    expect(problems({ SSE_ACCESS: 'token', SSE_ACCESS_JWKS_URL: 'http://keys.example.com/jwks' })).toContainEqual(
      expect.stringContaining('must use https'),
    );
    expect(problems({ SSE_ACCESS: 'token', SSE_ACCESS_JWT_SECRET: SECRET, SSE_ACCESS_ALGORITHMS: 'none' })).toContainEqual(
      expect.stringContaining('unknown algorithm'),
    );
    // The secret itself never appears in a problem.
    expect(problems({ SSE_ACCESS: 'token', SSE_ACCESS_JWT_SECRET: 'short-secret-value' }).join(' ')).not.toContain('short-secret-value');
  });
});
