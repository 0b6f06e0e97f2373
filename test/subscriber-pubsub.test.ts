import { PubSub, type Message } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import type { Envelope } from '../src/envelope/envelope.js';
import { createLogger } from '../src/log/logger.js';
import { waitFor } from './helpers/ports.js';
import { startHarness, type Harness } from './helpers/subscriber-harness.js';

const host = inject('pubsubEmulatorHost');
const skip = inject('pubsubEmulatorSkip');
const PROJECT = 'subscriber-e2e';

interface Received {
  topic: string;
  data: any;
  attributes: Record<string, string>;
  orderingKey: string;
}

describe.skipIf(!host)(`subscriber -> Pub/Sub emulator${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let h: Harness;
  let pubsub: PubSub;
  // Pub/Sub delivers at least once: under load the emulator redelivers what was not acked
  // in time (and, with ordering, everything after it on that key). Each Pub/Sub message is
  // kept once, by its message id; the redeliveries are counted apart.
  const received: Received[] = [];
  const seenMessageIds = new Set<string>();
  let redelivered = 0;

  beforeAll(async () => {
    const config = loadConfig({ BUS: 'pubsub', PUBSUB_EMULATOR_HOST: host, GOOGLE_CLOUD_PROJECT: PROJECT });
    const publisher = new PubSubPublisher(config.bus, createLogger({ component: 'test-publisher' }));
    h = await startHarness({ sim: { autoplay: true, speed: 900 }, publisher, graphqlUrl: 'sim' });
    // Topics now exist (created on the emulator at start); listen on each before any message flows.
    pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: host, emulatorMode: true });
    for (const topic of [...CATALOG.map((e) => e.topic), DEAD_LETTER_TOPIC, DAY_CARD_TOPIC]) {
      const [sub] = await pubsub
        .topic(topic)
        .createSubscription(`${topic}-check`, { enableMessageOrdering: true, ackDeadlineSeconds: 600 });
      sub.on('message', (m: Message) => {
        m.ack();
        if (seenMessageIds.has(m.id)) {
          redelivered++;
          return;
        }
        seenMessageIds.add(m.id);
        received.push({ topic, data: JSON.parse(m.data.toString()), attributes: m.attributes, orderingKey: m.orderingKey ?? '' });
      });
    }
    h.service.client.start();
  });

  afterAll(async () => {
    await h?.close();
    await pubsub?.close();
  });

  it('publishes each of the 15 message types to its own topic with the designed attributes and ordering keys', async () => {
    await waitFor(() => CATALOG.every((e) => received.some((r) => r.topic === e.topic)), {
      timeoutMs: 45_000,
      what: () =>
        'a message on every topic; missing ' +
        CATALOG.filter((e) => !received.some((r) => r.topic === e.topic))
          .map((e) => e.topic)
          .join(','),
    });
    for (const entry of CATALOG) {
      const onTopic = received.filter((r) => r.topic === entry.topic);
      for (const r of onTopic) {
        const env = r.data as Envelope;
        expect(env.type).toBe(entry.messageType);
        expect(r.attributes.messageType).toBe(entry.messageType);
        expect(r.attributes.envelopeId).toBe(env.id);
        expect(r.attributes.rootField).toBe(entry.rootField);
        for (const k of entry.keys) if (env.keys[k.name]) expect(r.attributes[k.name]).toBe(env.keys[k.name]);
        expect(r.orderingKey).toBe(env.keys[entry.orderingKey]);
        expect(env.payload[entry.orderingKey]).toBe(r.orderingKey);
      }
    }
    // Pool totals of one product arrive in the order they were received from Tote.
    const byProduct = new Map<string, string[]>();
    for (const r of received.filter((x) => x.topic === 'tote-pool-total-changed')) {
      byProduct.set(r.orderingKey, [...(byProduct.get(r.orderingKey) ?? []), r.data.id]);
    }
    for (const ids of byProduct.values()) expect(ids).toEqual([...ids].sort());
    // Every envelope carries its publisher's session and number: one session, each number once, and
    // number order is id order across all topics (what lets an SSE instance stream without waiting).
    const topics = new Set(CATALOG.map((e) => e.topic));
    const numbered = received.filter((r) => topics.has(r.topic)).sort((x, y) => (x.data.id < y.data.id ? -1 : 1));
    expect(new Set(numbered.map((r) => r.attributes.publisherSession)).size).toBe(1);
    expect(numbered[0]!.attributes.publisherSession).toMatch(/^[0-9a-f]{16}$/);
    const seqs = numbered.map((r) => Number(r.attributes.publisherSeq));
    expect(seqs.every((n) => Number.isSafeInteger(n) && n >= 1)).toBe(true);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const status = h.service.status() as any;
    expect(status.publish.bus).toBe('pubsub');
    expect(status.publish.latency.samples).toBeGreaterThan(0);
  });

  it('publishes the day card (names) to its own topic, for the SSE service that holds no key', async () => {
    // The card is paged out of the simulator's query gateway while the feed runs at full speed:
    // on a loaded machine that takes a while. Wait for the relay to publish it, then for its arrival.
    await waitFor(() => (h.service.status().dayCard?.published ?? 0) >= 1, {
      timeoutMs: 60_000,
      what: () => `the relay to publish a day card: ${JSON.stringify(h.service.status().dayCard)}`,
    });
    const card = await waitFor(() => received.find((r) => r.topic === DAY_CARD_TOPIC), {
      timeoutMs: 30_000,
      what: 'the day card on its topic',
    });
    expect(card.attributes.kind).toBe('day-card');
    expect(card.attributes.publisherSeq).toBeUndefined();
    expect(card.data.events.length).toBeGreaterThan(0);
    expect(card.data.products.length).toBeGreaterThan(0);
  }, 120_000);

  it('sends bad frames to the dead-letter topic with the raw text and the reason', async () => {
    // sendRaw writes to the sockets open now: on a loaded machine the client may be between two of them.
    await waitFor(() => h.service.client.status().state === 'running' && h.sim.connections() > 0, { what: 'the Tote socket up' });
    h.sim.faults.sendRaw('{"type":"data","id":"424242","payload":{"data":{}}}');
    h.sim.faults.sendRaw('<<garbage>>');
    await waitFor(() => received.filter((r) => r.topic === DEAD_LETTER_TOPIC).length >= 2, { timeoutMs: 15_000, what: 'two dead letters' });
    const dls = received.filter((r) => r.topic === DEAD_LETTER_TOPIC);
    expect(dls.map((d) => d.attributes.reason).sort()).toEqual(['invalid-json', 'unknown-operation']);
    expect(dls.map((d) => d.attributes.publisherSeq)).toEqual([undefined, undefined]);
    const garbage = dls.find((d) => d.attributes.reason === 'invalid-json')!;
    expect(garbage.data.raw).toBe('<<garbage>>');
    expect(garbage.data.detail).toMatch(/not JSON/);
  });

  it('accounts for every message after a stop: published + dead-lettered = received, nothing in flight', async () => {
    await h.service.stopAndFlush();
    const t = (h.service.status() as any).totals;
    expect(t.inFlight).toBe(0);
    expect(t.received).toBe(t.published + t.deadLettered + t.outboxed);
    // Each published envelope on its topic, counted once by its envelope id: a publish the
    // client library retried may reach the topic twice, as at-least-once allows.
    const feedIds = () =>
      new Set(received.filter((r) => r.topic !== DEAD_LETTER_TOPIC && r.topic !== DAY_CARD_TOPIC).map((r) => (r.data as Envelope).id));
    await waitFor(() => feedIds().size === t.published, {
      timeoutMs: 30_000,
      what: () => `all ${t.published} published messages to arrive (have ${feedIds().size} distinct)`,
    });
    console.log(
      `pubsub e2e: received ${t.received}, published ${t.published}, dead-lettered ${t.deadLettered}, redelivered by Pub/Sub ${redelivered}`,
    );
  });
});
