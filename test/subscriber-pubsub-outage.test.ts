import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/logger.js';
import { createOutbox } from '../src/outbox/outbox.js';
import { TopicReader } from './chaos/parts.js';
import { startTcpProxy, type TcpProxy } from './chaos/tcp-proxy.js';
import { waitFor } from './helpers/ports.js';
import { startHarness, type Harness } from './helpers/subscriber-harness.js';

const host = inject('pubsubEmulatorHost');
const skip = inject('pubsubEmulatorSkip');
const POOL_TOPIC = CATALOG.find((e) => e.rootField === 'onPoolTotalChanged')!.topic;
const ALL_TOPICS = [...CATALOG.map((e) => e.topic), DEAD_LETTER_TOPIC, DAY_CARD_TOPIC];
const dir = mkdtempSync(join(tmpdir(), 'tote-outage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let h: Harness | undefined;
let proxy: TcpProxy | undefined;
let admin: PubSub | undefined;
let reader: TopicReader | undefined;
afterEach(async () => {
  proxy?.up();
  await h?.close();
  await reader?.close();
  await admin?.close();
  await proxy?.close();
  h = undefined;
  proxy = undefined;
  admin = undefined;
  reader = undefined;
});

async function setup(env: Record<string, string> = {}, outboxDir?: string) {
  const project = `outage-${randomBytes(4).toString('hex')}`;
  proxy = await startTcpProxy(host);
  admin = new PubSub({ projectId: project, apiEndpoint: host, emulatorMode: true });
  const config = loadConfig({
    BUS: 'pubsub',
    PUBSUB_EMULATOR_HOST: proxy.host,
    GOOGLE_CLOUD_PROJECT: project,
    PUBSUB_RETRY_MAX_MS: '800',
    PUBSUB_PUBLISH_TIMEOUT_MS: '1000',
    ...env,
  });
  const publisher = new PubSubPublisher(config.bus, createLogger({ component: 'test-publisher' }), {
    outbox: outboxDir ? createOutbox(`file:${outboxDir}`, 'test') : null,
  });
  h = await startHarness({ publisher });
  reader = new TopicReader(admin, POOL_TOPIC);
  return { project, config, publisher };
}

async function running(): Promise<void> {
  h!.service.client.start();
  await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.stats().operations === 15, {
    what: 'connected and subscribed',
  });
}

/** `ticks` bursts of `perTick` pool totals, one every 100 ms (200/s at 20 a tick); `at` runs before tick i. */
async function feed(ticks: number, perTick: number, at: Record<number, () => Promise<void> | void> = {}): Promise<number> {
  let sent = 0;
  for (let i = 0; i < ticks; i++) {
    await at[i]?.();
    sent += h!.sim.faults.burst(perTick);
    await new Promise((r) => setTimeout(r, 100)); // pacing the feed, not synchronisation
  }
  return sent;
}

const totals = () => (h!.service.status() as any).totals;
const delivery = () => (h!.service.status() as any).publish.delivery;

describe.skipIf(!host)(`Pub/Sub outages${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('rides out Pub/Sub being unreachable and coming back without its topics: nothing dead-lettered, every message on its topic, each key in order', async () => {
    await setup();
    await reader!.listen('check-before');
    await running();
    const sent = await feed(40, 20, {
      10: () => proxy!.down(),
      // Back empty, as a restarted emulator is: the topics are new, the old subscription keeps its backlog.
      20: async () => {
        for (const t of ALL_TOPICS)
          await admin!
            .topic(t)
            .delete()
            .catch(() => undefined);
        for (const t of ALL_TOPICS) await admin!.createTopic(t);
        await reader!.listen('check-after');
      },
      30: () => proxy!.up(),
    });
    expect(sent).toBe(800);
    await waitFor(() => totals().received === 800 && totals().inFlight === 0, {
      timeoutMs: 60_000,
      what: () => `every message published after the outage: ${JSON.stringify(totals())} ${JSON.stringify(delivery())}`,
    });
    expect(totals().published).toBe(800);
    expect(totals().deadLettered).toBe(0);
    await waitFor(() => reader!.distinct().size === 800, {
      timeoutMs: 30_000,
      what: () => `800 distinct on the topic (have ${reader!.distinct().size})`,
    });
    // Ordering keys keep their order across the retries (first copies, by envelope id = receive order).
    const firstSeen = new Map<string, string[]>();
    const seen = new Set<string>();
    for (const c of reader!.copies) {
      if (seen.has(c.id)) continue;
      seen.add(c.id);
      firstSeen.set(c.key, [...(firstSeen.get(c.key) ?? []), c.id]);
    }
    for (const ids of firstSeen.values()) expect(ids).toEqual([...ids].sort());
    expect(h!.logs.some((l) => l.includes('publish failed; retrying'))).toBe(true);
    expect(delivery().held).toBe(0);
  });

  it('on the emulator, recreates a topic that disappeared and publishes what was held for it', async () => {
    await setup();
    await running();
    await admin!.topic(POOL_TOPIC).delete();
    h!.sim.faults.burst(50);
    await waitFor(() => totals().published === 50, {
      timeoutMs: 30_000,
      what: () => `50 published ${JSON.stringify(totals())} ${JSON.stringify(delivery())}`,
    });
    const [exists] = await admin!.topic(POOL_TOPIC).exists();
    expect(exists).toBe(true);
    expect(totals().deadLettered).toBe(0);
    expect(h!.logs.some((l) => l.includes('created pubsub topic') && l.includes(POOL_TOPIC))).toBe(true);
  });

  it('in the cloud (topics from infrastructure), reports a missing topic plainly in /status and the log, holds its messages, and publishes them once the topic exists', async () => {
    const { project } = await setup({ PUBSUB_CREATE_TOPICS: 'false' });
    void project;
    for (const t of ALL_TOPICS) await admin!.createTopic(t);
    await running();
    await admin!.topic(POOL_TOPIC).delete();
    h!.sim.faults.burst(50);
    await waitFor(() => delivery().missingTopics.includes(POOL_TOPIC), { timeoutMs: 30_000, what: 'the missing topic in /status' });
    expect(h!.logs.some((l) => l.includes('pubsub topic does not exist') && l.includes(POOL_TOPIC))).toBe(true);
    expect(totals().deadLettered).toBe(0);
    expect(totals().inFlight).toBe(50);
    await admin!.createTopic(POOL_TOPIC);
    await waitFor(() => totals().published === 50, { timeoutMs: 30_000, what: () => `50 published ${JSON.stringify(totals())}` });
    await waitFor(() => delivery().missingTopics.length === 0, { what: 'the topic no longer reported missing' });
  });

  it('keeps what Pub/Sub has not confirmed at shutdown in the outbox, and the next start publishes it', async () => {
    const outboxDir = join(dir, 'outbox');
    const { config } = await setup({ SHUTDOWN_GRACE_MS: '1500' }, outboxDir);
    await reader!.listen('check-outbox');
    await running();
    proxy!.down();
    h!.sim.faults.burst(30);
    await waitFor(() => totals().received === 30 && delivery().retryingLanes > 0, { what: 'thirty held for retry' });
    const dead = h!;
    h = undefined;
    await dead.close();
    const t = dead.service.status() as any;
    expect(t.totals.outboxed).toBe(30);
    expect(t.totals.inFlight).toBe(0);
    const files = readdirSync(outboxDir).filter((f) => f.endsWith('.jsonl'));
    expect(files).toHaveLength(1);
    expect(readFileSync(join(outboxDir, files[0]!), 'utf8').trim().split('\n')).toHaveLength(30);

    // The next start, with Pub/Sub back.
    proxy!.up();
    const next = new PubSubPublisher(config.bus, createLogger({ component: 'test-publisher-2' }), {
      outbox: createOutbox(`file:${outboxDir}`, 'test-2'),
    });
    await next.connect();
    await next.flush();
    await waitFor(() => reader!.distinct().size === 30, {
      timeoutMs: 30_000,
      what: () => `30 on the topic (have ${reader!.distinct().size})`,
    });
    expect(readdirSync(outboxDir).filter((f) => f.endsWith('.jsonl'))).toHaveLength(0);
    expect(next.deliveryStatus().outbox!.replayed).toBe(30);
    await next.close();
  });
});
