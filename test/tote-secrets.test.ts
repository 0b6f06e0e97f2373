import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { GoogleAuth, OAuth2Client } from 'google-auth-library';
import { afterEach, describe, expect, it } from 'vitest';
import { setLogWriter } from '../src/log/logger.js';
import { createSecretResolver } from '../src/tote/secrets.js';
import { waitFor } from './helpers/ports.js';
import { startHarness } from './helpers/subscriber-harness.js';

/**
 * A stand-in for Secret Manager's REST surface (GET .../versions/V:access),
 * driven by the real @google-cloud/secret-manager client. The test rotates
 * the secret by changing what this server answers.
 */
function secretServer(values: Map<string, string>) {
  const calls: string[] = [];
  const server: Server = createServer((req, res) => {
    const m = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/:]+):access/.exec(req.url ?? '');
    calls.push(req.url ?? '');
    const value = m ? values.get(m[1]!) : undefined;
    res.setHeader('content-type', 'application/json');
    if (value === undefined) {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 404, message: 'Secret not found', status: 'NOT_FOUND' } }));
      return;
    }
    res.end(JSON.stringify({ name: `${m![1]}/versions/7`, payload: { data: Buffer.from(value).toString('base64') } }));
  });
  return { server, calls };
}

/** The real Secret Manager client over REST to the local server, with a fixed local token. */
function localSecretManager(server: Server): SecretManagerServiceClient {
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: 'local', expiry_date: Date.now() + 3_600_000 });
  const options = {
    apiEndpoint: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    fallback: true,
    protocol: 'http',
    auth: new GoogleAuth({ authClient }),
  };
  // The client bundles its own copy of google-auth-library; the objects are compatible at run time.
  return new SecretManagerServiceClient(options as unknown as ConstructorParameters<typeof SecretManagerServiceClient>[0]);
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
  setLogWriter((l) => process.stdout.write(l + '\n'));
});

describe('secrets from Secret Manager', () => {
  it('resolves the key at each connect, so a rotated key is used on the next reconnect, and never shows it', async () => {
    const OLD = 'old-key-0a1b2c3d4e',
      NEW = 'new-key-9f8e7d6c5b';
    const values = new Map([['projects/p/secrets/tote-api-key', OLD]]);
    const { server, calls } = secretServer(values);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise((r) => server.close(() => r())));
    const sm = localSecretManager(server);
    cleanup.push(() => sm.close());

    const h = await startHarness({
      apiKey: 'sm://projects/p/secrets/tote-api-key/versions/latest',
      sim: { apiKeys: [NEW], autoplay: true, speed: 600 },
      env: { TOTE_AUTH_RETRY_MS: '300' },
      service: { resolveSecret: createSecretResolver(sm) },
    });
    cleanup.push(() => h.close());
    const client = h.service.client;
    client.start();

    await waitFor(() => /rejected the (API key|connection)/.test(client.status().lastError ?? ''), {
      what: () => 'the old key to be refused: ' + JSON.stringify(client.status().lastError) + ' ' + client.status().state,
    });
    values.set('projects/p/secrets/tote-api-key', NEW); // rotation
    await waitFor(() => client.status().state === 'running' && h.envelopes.length > 0, {
      timeoutMs: 15_000,
      what: 'connected with the new key',
    });
    expect(calls.filter((c) => c.includes('tote-api-key/versions/latest:access')).length).toBeGreaterThanOrEqual(2);

    const visible = JSON.stringify(h.service.status()) + (await (await fetch(`${h.service.url}/status`)).text()) + h.logs.join('\n');
    expect(visible).not.toContain(OLD);
    expect(visible).not.toContain(NEW);
  });

  it('reports an unreadable secret by its reference, and keeps retrying', async () => {
    const { server, calls } = secretServer(new Map());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise((r) => server.close(() => r())));
    const sm = localSecretManager(server);
    cleanup.push(() => sm.close());
    const ref = 'sm://projects/p/secrets/missing/versions/3';
    await expect(createSecretResolver(sm)(ref)).rejects.toThrow(
      /could not read sm:\/\/projects\/p\/secrets\/missing\/versions\/3 from Secret Manager/,
    );

    const h = await startHarness({ apiKey: ref, service: { resolveSecret: createSecretResolver(sm) } });
    cleanup.push(() => h.close());
    h.service.client.start();
    await waitFor(() => calls.filter((c) => c.includes('missing/versions/3:access')).length >= 3, { what: 'repeated attempts' });
    const status = h.service.client.status();
    expect(status.state).not.toBe('running');
    expect(status.lastError).toContain('could not read sm://projects/p/secrets/missing/versions/3');
  });
});
