import { createPubSub } from '../src/bus/pubsub-client.js';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import { entryForMessageType } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { PubSubConsumer, subscriptionNameFor } from '../src/consumer/index.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { poolTotal as poolTotalOf } from './helpers/envelopes.js';
import { waitFor } from './helpers/ports.js';

const poolTotal = (n: number) => poolTotalOf(`rs-p${n}`, n);

const host = inject('pubsubEmulatorHost');
const skipReason = inject('pubsubEmulatorSkip');
setLogWriter(() => {});
const log = createLogger({ test: 'consumer-reopen-seek' });

const HOUR = 3_600_000;
const MARGIN_MS = 1_000;

describe.skipIf(!host)(`a recreated consumer subscription, against the emulator ${skipReason ? `(skipped: ${skipReason})` : ''}`, () => {
  const project = `sse-reopen-${randomBytes(3).toString('hex')}`;
  const config = loadConfig({
    BUS: 'pubsub',
    PUBSUB_EMULATOR_HOST: host,
    GOOGLE_CLOUD_PROJECT: project,
    SSE_INSTANCE_ID: 'reopen-1',
    // Unordered, so the emulator carries out the seek (it refuses one on an ordered subscription).
    PUBSUB_ORDERING: 'false',
    SSE_SUBSCRIPTION_ORDERING: 'false',
    // All day, an hour back: the start-of-day target is an hour ago whatever the time of the run.
    SSE_FEED_WINDOW_START: '00:00',
    SSE_FEED_WINDOW_END: '00:00',
    SSE_SEEK_BACK_MS: String(HOUR),
    SSE_REOPEN_SEEK_MARGIN_MS: String(MARGIN_MS),
    SSE_CONSUMER_REOPEN_DELAY_MS: '100',
  });
  const entry = entryForMessageType('PoolTotalChanged')!;
  const admin = createPubSub({ projectId: project, emulatorHost: host });
  const name = subscriptionNameFor(config.sse.consumer.subscriptionPrefix, 'reopen-1', entry.topic);
  let publisher: PubSubPublisher;
  let consumer: PubSubConsumer;
  const seen: string[] = [];

  beforeAll(async () => {
    publisher = new PubSubPublisher(config.bus, log);
    await publisher.connect();
    consumer = new PubSubConsumer({ config: config.bus, sse: config.sse, log, entries: [entry] });
    await consumer.start();
    consumer.subscribe((e) => void seen.push(e.id));
  });

  afterAll(async () => {
    await consumer?.close();
    await publisher?.close();
    await admin.close();
  });

  const slot = () => consumer.status().subscriptions.find((s) => s.topic === entry.topic)!;

  it('seeks back to the newest message it delivered, less the margin, instead of replaying the day', async () => {
    const created = Date.parse(slot().seekTarget!);
    expect(created).toBeLessThan(Date.now() - HOUR / 2); // the start-of-day target: the replay a fresh instance wants

    const beforePublish = Date.now();
    const sent = [1, 2, 3].map(poolTotal);
    for (const e of sent) await publisher.publish(e);
    await publisher.flush();
    await waitFor(() => sent.every((e) => seen.includes(e.id)), { timeoutMs: 20_000, what: 'the three messages' });
    const delivered = Date.now();

    await admin.subscription(name).delete();
    await waitFor(() => consumer.status().reopened === 1 && slot().state === 'active', {
      timeoutMs: 30_000,
      what: 'the subscription recreated',
    });

    const reopened = slot();
    expect(reopened.seek).toBe('done');
    const target = Date.parse(reopened.seekTarget!);
    // From the newest message's publish time less the margin: not an hour back, not after what it had.
    expect(target).toBeGreaterThanOrEqual(beforePublish - MARGIN_MS - 1_000);
    expect(target).toBeLessThanOrEqual(delivered - MARGIN_MS);

    // And it streams on.
    const after = poolTotal(4);
    await waitFor(
      async () => {
        // Published until it arrives: a recreated subscription only sees messages published after it exists.
        if (!seen.includes(after.id)) await publisher.publish(after);
        return seen.includes(after.id);
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'a message through the recreated subscription' },
    );
  });
});
