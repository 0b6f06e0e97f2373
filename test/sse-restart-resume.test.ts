import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createPubSub } from '../src/bus/pubsub-client.js';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import { DAY_CARD_TOPIC, entryForMessageType } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { PubSubConsumer } from '../src/consumer/index.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import { startTcpProxy, type TcpProxy } from './chaos/tcp-proxy.js';
import { poolTotal } from './helpers/envelopes.js';
import { waitFor } from './helpers/ports.js';
import { openStream, type SseStream } from './helpers/sse-stream.js';

/**
 * A browser whose instance went away reconnects to one that has just
 * started. The new instance's subscriptions were sought back to the start of
 * the day; where the topic's retention guarantees that replay, the browser's
 * Last-Event-ID (stamped before the new instance existed) is resumed exactly,
 * even while the replayed backlog is still on its way. Where the topic keeps
 * nothing, the seek replays nothing, and the browser must be told to resync.
 */
const host = inject('pubsubEmulatorHost');
const skipReason = inject('pubsubEmulatorSkip');
setLogWriter(() => {});
const log = createLogger({ test: 'sse-restart-resume' });
const entry = entryForMessageType('PoolTotalChanged')!;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function freshInstance(retainedTopics: boolean) {
  const project = `sse-restart-${randomBytes(3).toString('hex')}`;
  const env = {
    BUS: 'pubsub',
    GOOGLE_CLOUD_PROJECT: project,
    SSE_INSTANCE_ID: 'fresh-1',
    // Unordered, so the emulator carries out the seek (it refuses one on an ordered subscription).
    PUBSUB_ORDERING: 'false',
    SSE_SUBSCRIPTION_ORDERING: 'false',
    // All day, an hour back: the start-of-day target is an hour ago whatever the time of the run.
    SSE_FEED_WINDOW_START: '00:00',
    SSE_FEED_WINDOW_END: '00:00',
    SSE_SEEK_BACK_MS: '3600000',
  };
  const admin = createPubSub({ projectId: project, emulatorHost: host });
  cleanups.push(() => admin.close());
  for (const name of [entry.topic, DAY_CARD_TOPIC]) {
    await admin.createTopic(retainedTopics ? { name, messageRetentionDuration: { seconds: 3 * 3600 } } : { name });
  }
  const publisher = new PubSubPublisher(loadConfig({ ...env, PUBSUB_EMULATOR_HOST: host }).bus, log);
  await publisher.connect();
  cleanups.push(() => publisher.close());
  // What the browser had from the instance that went away, and two events it has not seen yet.
  const before = [1, 2, 3, 4, 5].map((n) => poolTotal(`restart-p${n}`, n));
  for (const e of before) await publisher.publish(e);
  await publisher.flush();

  // The new instance reaches Pub/Sub through a relay, so its replayed backlog can be held back.
  const proxy: TcpProxy = await startTcpProxy(host);
  cleanups.push(() => proxy.close());
  const config = loadConfig({ ...env, PUBSUB_EMULATOR_HOST: proxy.host });
  const consumer = new PubSubConsumer({ config: config.bus, sse: config.sse, log, entries: [entry] });
  cleanups.push(() => consumer.close());
  await consumer.start();
  // From here on every answer, the backlog included, is 3 s late: the browser reconnects before any arrives.
  proxy.delayAnswers(3_000);
  const sse: SseService = await startSseService({ config: { ...config.sse, port: 0, host: '127.0.0.1' }, source: consumer, log });
  cleanups.push(async () => {
    proxy.delayAnswers(0);
    await sse.close();
  });
  const stream: SseStream = await openStream(`${sse.url}/events`, { 'Last-Event-ID': before[2]!.id });
  cleanups.push(() => Promise.resolve(stream.close()));
  return { before, publisher, stream, sse };
}

describe.skipIf(!host)(
  `resuming on a freshly started SSE instance, against the emulator ${skipReason ? `(skipped: ${skipReason})` : ''}`,
  () => {
    it('resumes exactly from a Last-Event-ID stamped before the instance started when the topic retains what the seek replays', async () => {
      const { before, publisher, stream, sse } = await freshInstance(true);
      const live = poolTotal('restart-live', 6);
      await publisher.publish(live);
      await publisher.flush();
      const want = [before[3]!.id, before[4]!.id, live.id];
      await waitFor(() => want.every((id) => stream.ids.includes(id)), {
        what: () => `the missed and live events (have ${stream.ids.length})`,
      });
      expect(stream.named('resync')).toEqual([]);
      // Nothing the browser already had is sent again, and what it missed comes in order.
      expect(stream.ids).toEqual(want);
      expect(Date.parse(sse.status().history.completeSince)).toBeLessThan(Date.parse(before[0]!.receivedAt));
    });

    it('tells the browser to resync when the topic keeps nothing, so the seek could replay nothing', async () => {
      const { before, stream } = await freshInstance(false);
      await stream.waitForEvents(1);
      const resync = stream.named('resync');
      expect(resync).toHaveLength(1);
      expect(JSON.parse(resync[0]!.data)).toMatchObject({ reason: 'too-old', lastEventId: before[2]!.id });
    });
  },
);
