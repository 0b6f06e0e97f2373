import { PubSub } from '@google-cloud/pubsub';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { CATALOG, DAY_CARD_TOPIC } from '../src/catalog/catalog.js';
import { subscriptionNameFor } from '../src/consumer/index.js';
import { waitFor } from './helpers/ports.js';
import { openStream } from './helpers/sse-stream.js';

const host = inject('pubsubEmulatorHost');
const skipReason = inject('pubsubEmulatorSkip');

/** Cloud Run sends SIGKILL this long after SIGTERM. */
const CLOUD_RUN_GRACE_MS = 10_000;

describe.skipIf(!host)(`standalone SSE service process on SIGTERM ${skipReason ? `(skipped: ${skipReason})` : ''}`, () => {
  // A project and an instance id of its own, so no other test file's subscriptions are counted.
  const project = `sse-sigterm-${randomBytes(3).toString('hex')}`;
  const instanceId = `sigterm-${randomBytes(3).toString('hex')}`;
  const admin = new PubSub({ projectId: project, apiEndpoint: host, emulatorMode: true });
  const expected = [...CATALOG.map((e) => e.topic), DAY_CARD_TOPIC].map((t) => subscriptionNameFor('sse', instanceId, t));
  let child: ChildProcess | undefined;

  const instanceSubscriptions = async () =>
    (await admin.getSubscriptions())[0].map((s) => s.name.split('/').pop()!).filter((n) => n.includes(instanceId));

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await admin.close();
  });

  it('ends the streams, deletes all 16 subscriptions and exits 0 within the grace', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'src/sse/main.ts'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        METADATA_SERVER_DETECTION: 'none',
        BUS: 'pubsub',
        PUBSUB_EMULATOR_HOST: host,
        GOOGLE_CLOUD_PROJECT: project,
        PORT: '0',
        SSE_HOST: '127.0.0.1',
        SSE_INSTANCE_ID: instanceId,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exit: { code: number | null; signal: string | null; at: number } | undefined;
    child.on('exit', (code, signal) => (exit = { code, signal, at: Date.now() }));

    // PORT=0: the service logs the address it got.
    const url = await waitFor(
      () => {
        if (exit) throw new Error(`service exited early (${exit.code}): ${output}`);
        const line = output.split('\n').find((l) => l.includes('"sse service listening"'));
        return line ? (JSON.parse(line) as { url: string }).url : undefined;
      },
      { timeoutMs: 45_000, what: () => `the service to listen; output so far: ${output.slice(-2000)}` },
    );
    await waitFor(async () => (await fetch(`${url}/health`)).ok, { what: '/health' });
    expect((await instanceSubscriptions()).sort()).toEqual([...expected].sort());
    expect(expected).toHaveLength(16);

    const stream = await openStream(`${url}/events`);
    expect(stream.status).toBe(200);
    expect(stream.ended).toBe(false);

    const signalledAt = Date.now();
    child.kill('SIGTERM');
    await waitFor(() => exit, { timeoutMs: CLOUD_RUN_GRACE_MS + 2_000, what: () => `exit after SIGTERM; output: ${output.slice(-2000)}` });
    expect(exit!.code, output.slice(-2000)).toBe(0);
    expect(exit!.at - signalledAt).toBeLessThan(CLOUD_RUN_GRACE_MS);
    await stream.waitForEnd(2_000);
    expect(await instanceSubscriptions()).toEqual([]);
    expect(output).toContain('"shut down cleanly"');
  });
});
