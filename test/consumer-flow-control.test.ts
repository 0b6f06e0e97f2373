import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import { entryForMessageType } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { PubSubConsumer } from '../src/consumer/index.js';
import { extractKeys, makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { waitFor } from './helpers/ports.js';

const host = inject('pubsubEmulatorHost');
const skipReason = inject('pubsubEmulatorSkip');
setLogWriter(() => {});
const log = createLogger({ test: 'consumer-flow-control' });

const BOUND = 3;
const SENT = 30;

function poolTotal(n: number): Envelope {
  const entry = entryForMessageType('PoolTotalChanged')!;
  // A product each: no ordering key holds the others back, so the server could hand over all at once.
  const payload = { productId: `fc-p${n}`, isFinalized: false, total: { grossAmounts: [{ decimalAmount: n, currency: { code: 'GBP' } }] } };
  const keys = extractKeys(entry, payload);
  if (!keys.ok) throw new Error('sample misses keys');
  return makeEnvelope(entry, payload, keys.keys, { source: 'test', protocol: 'graphql-ws', connectionId: 'c', instanceId: 'sub-1' });
}

describe.skipIf(!host)(`consumer flow control against the emulator ${skipReason ? `(skipped: ${skipReason})` : ''}`, () => {
  const project = `sse-flow-${randomBytes(3).toString('hex')}`;
  const config = loadConfig({
    BUS: 'pubsub',
    PUBSUB_EMULATOR_HOST: host,
    GOOGLE_CLOUD_PROJECT: project,
    SSE_INSTANCE_ID: 'flow-1',
    SSE_CONSUMER_MAX_MESSAGES: String(BOUND),
  });
  const entry = entryForMessageType('PoolTotalChanged')!;
  let publisher: PubSubPublisher;
  let consumer: PubSubConsumer;

  beforeAll(async () => {
    publisher = new PubSubPublisher(config.bus, log);
    await publisher.connect();
    consumer = new PubSubConsumer({ config: config.bus, sse: config.sse, log, entries: [entry] });
    await consumer.start();
  });

  afterAll(async () => {
    await consumer?.close();
    await publisher?.close();
  });

  const poolSubscription = () => consumer.status().subscriptions.find((s) => s.topic === entry.topic)!;

  it('holds at most SSE_CONSUMER_MAX_MESSAGES while the listener is slow, and delivers every message once it speeds up', async () => {
    const held: (() => void)[] = [];
    const arrived: string[] = [];
    let fast = false;
    let inListener = 0;
    let inListenerPeak = 0;
    let outstandingSeenPeak = 0;
    consumer.subscribe((e) => {
      arrived.push(e.id);
      outstandingSeenPeak = Math.max(outstandingSeenPeak, consumer.status().outstanding);
      if (fast) return;
      inListener++;
      inListenerPeak = Math.max(inListenerPeak, inListener);
      return new Promise<void>((resolve) =>
        held.push(() => {
          inListener--;
          resolve();
        }),
      );
    });

    const sent = Array.from({ length: SENT }, (_, i) => poolTotal(i));
    for (const e of sent) await publisher.publish(e);
    await publisher.flush();

    // Slow: each message finishes only when the previous batch is all in hand; the consumer refills to the bound, never past it.
    for (let round = 0; round < 4; round++) {
      await waitFor(() => held.length === BOUND, { timeoutMs: 20_000, what: () => `listener holding ${BOUND} (holds ${held.length})` });
      expect(poolSubscription().outstanding).toBe(BOUND);
      held.shift()!();
    }
    expect(arrived.length).toBeLessThan(SENT);

    // Speeds up: what is held is let go, and the rest flows through at once.
    fast = true;
    for (const release of held.splice(0)) release();
    await waitFor(() => new Set(arrived).size === SENT, {
      timeoutMs: 20_000,
      what: () => `all ${SENT} messages (have ${new Set(arrived).size})`,
    });
    await waitFor(() => poolSubscription().outstanding === 0, { what: 'every message acked' });

    expect(new Set(arrived)).toEqual(new Set(sent.map((e) => e.id)));
    expect(arrived).toHaveLength(SENT);
    expect(inListenerPeak).toBe(BOUND);
    expect(outstandingSeenPeak).toBeLessThanOrEqual(BOUND);
    expect(poolSubscription().outstandingPeak).toBe(BOUND);
    expect(consumer.status()).toMatchObject({ maxOutstandingPerSubscription: BOUND, delivered: SENT, listenerErrors: 0 });
    const metrics = await consumer.metricsRegistry.metrics();
    expect(metrics).toMatch(/sse_consumer_outstanding_messages 0/);
  });
});
