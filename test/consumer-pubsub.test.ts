import { PubSub } from '@google-cloud/pubsub';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC, entryForMessageType } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import type { SseConfig } from '../src/config/sse.js';
import { PubSubConsumer, subscriptionNameFor } from '../src/consumer/index.js';
import { extractKeys, makeEnvelope, type DeadLetter, type Envelope } from '../src/envelope/envelope.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import type { DayCard } from '../src/day-card/day-card.js';
import { waitFor } from './helpers/ports.js';
import { openStream, type SseStream } from './helpers/sse-stream.js';

const host = inject('pubsubEmulatorHost');
const skipReason = inject('pubsubEmulatorSkip');
const logLines: string[] = [];
setLogWriter((l) => {
  logLines.push(l);
  if (logLines.length > 2000) logLines.splice(0, 1000);
});
const log = createLogger({ test: 'consumer' });

/** One payload per catalog entry, with the keys each needs. */
const SAMPLE_PAYLOADS: Record<string, Record<string, unknown>> = {
  BetAccepted: { betId: 'b1', customerBetId: 'c1' },
  BetRejected: { betId: 'b2', reason: 'stake too low' },
  BetFailed: { betId: 'b3', reason: 'system' },
  BetCancelled: { betId: 'b4' },
  BetResulted: { betId: 'b5' },
  BetSettled: { betId: 'b6' },
  ProductStatusChanged: { productId: 'p1', status: 'OPEN' },
  SelectionStatusChanged: { productId: 'p1', legId: 'l1', selectionId: 's1', status: 'AVAILABLE' },
  PoolTotalChanged: { productId: 'p1', isFinalized: false, total: { grossAmounts: [{ decimalAmount: 10, currency: { code: 'GBP' } }] } },
  PoolDividendChanged: { productId: 'p1', dividends: [] },
  EventStatusChanged: { eventId: 'e1', status: 'STARTED' },
  EventResultChanged: { eventId: 'e1', competitorResults: [] },
  EventUpdated: { eventId: 'e1' },
  CompetitorStatusChanged: { eventId: 'e1', competitorId: 'k1', status: 'WITHDRAWN' },
  LinesChanged: { productId: 'p1' },
};

function envelopeFor(type: string, extra: Record<string, unknown> = {}): Envelope {
  const entry = entryForMessageType(type)!;
  const payload = { ...SAMPLE_PAYLOADS[type]!, ...extra };
  const keys = extractKeys(entry, payload);
  if (!keys.ok) throw new Error(`sample for ${type} misses keys`);
  return makeEnvelope(entry, payload, keys.keys, { source: 'test', protocol: 'graphql-ws', connectionId: 'c', instanceId: 'sub-1' });
}

describe.skipIf(!host)(`Pub/Sub consumer feeding two SSE instances ${skipReason ? `(skipped: ${skipReason})` : ''}`, () => {
  // A project of its own, so other test files publishing to the same emulator never reach these subscriptions.
  const project = `sse-consumer-${randomBytes(3).toString('hex')}`;
  const env = { BUS: 'pubsub', PUBSUB_EMULATOR_HOST: host, GOOGLE_CLOUD_PROJECT: project };
  const config = loadConfig(env);
  const admin = new PubSub({ projectId: project, apiEndpoint: host, emulatorMode: true });
  const instances: { id: string; consumer: PubSubConsumer; sse: SseService; stream: SseStream }[] = [];
  let publisher: PubSubPublisher;
  const deadLetters: DeadLetter[] = [];

  const sseConfig = (instanceId: string): SseConfig => ({
    ...config.sse,
    instanceId,
    port: 0,
    host: '127.0.0.1',
    consumer: { ...config.sse.consumer, reopenDelayMs: 200 },
  });

  const projectSubscriptions = async () => (await admin.getSubscriptions())[0].map((s) => s.name.split('/').pop()!);

  beforeAll(async () => {
    publisher = new PubSubPublisher(config.bus, log);
    await publisher.connect(); // creates the catalog topics and the dead-letter topic on the emulator
    const [dlSub] = await admin.topic(DEAD_LETTER_TOPIC).createSubscription('dead-letter-watch');
    dlSub.on('message', (m) => {
      deadLetters.push(JSON.parse(m.data.toString()) as DeadLetter);
      m.ack();
    });
    for (const id of ['alpha-1', 'beta-2']) {
      const consumer = new PubSubConsumer({ config: config.bus, sse: sseConfig(id), log });
      await consumer.start();
      const sse = await startSseService({ config: sseConfig(id), source: consumer, log });
      const stream = await openStream(`${sse.url}/events`);
      instances.push({ id, consumer, sse, stream });
    }
  });

  afterAll(async () => {
    for (const i of instances) {
      i.stream.close();
      await i.sse.close();
      await i.consumer.close();
    }
    await publisher?.close();
    await admin.close();
  });

  it('creates one subscription per topic for each instance', async () => {
    const subs = await projectSubscriptions();
    for (const { id } of instances) {
      for (const entry of CATALOG) expect(subs).toContain(subscriptionNameFor('sse', id, entry.topic));
      expect(subs).toContain(subscriptionNameFor('sse', id, DAY_CARD_TOPIC));
    }
    // Each was sought back to the start of the day; the emulator accepts the seek (it does not replay).
    // Each was sought back to the start of the day. The emulator (measured) seeks an unordered subscription
    // without replaying, and answers UNIMPLEMENTED (12) for an ordered one: counted, and the instance runs on.
    for (const i of instances) {
      const seeks = i.consumer.status().subscriptions.map((x) => [x.topic, x.seek]);
      expect(Object.fromEntries(seeks)[DAY_CARD_TOPIC]).toBe('done');
      for (const [, seek] of seeks) expect(['done', 12]).toContain(seek);
      expect(i.consumer.status().state).toBe('running');
    }
    expect(Date.parse(instances[0]!.consumer.status().completeSince!)).toBeGreaterThan(0);
    const [meta] = await admin.subscription(subscriptionNameFor('sse', 'alpha-1', CATALOG[0]!.topic)).getMetadata();
    expect(Number(meta.expirationPolicy?.ttl?.seconds)).toBe(86_400);
    expect(Number(meta.messageRetentionDuration?.seconds)).toBe(600);
    expect(meta.enableMessageOrdering).toBe(true);
  });

  it('delivers every message of every topic to both instances, once, in order per product', async () => {
    const sent = CATALOG.map((e) => envelopeFor(e.messageType));
    const totals = [1, 2, 3, 4, 5].map((n) =>
      envelopeFor('PoolTotalChanged', { total: { grossAmounts: [{ decimalAmount: n, currency: { code: 'GBP' } }] } }),
    );
    for (const e of [...sent, ...totals]) await publisher.publish(e);
    // At-least-once: a second copy of a message must not reach a browser twice.
    await publisher.publish(sent[0]!);
    await publisher.flush();
    const want = new Set([...sent, ...totals].map((e) => e.id));
    for (const i of instances) {
      await waitFor(() => [...want].every((id) => i.stream.ids.includes(id)), {
        timeoutMs: 20_000,
        what: `all messages on ${i.id}`,
      });
    }
    const marker = envelopeFor('BetSettled');
    await publisher.publish(marker);
    for (const i of instances) {
      await waitFor(() => i.stream.ids.includes(marker.id), { timeoutMs: 20_000, what: 'marker' });
      const ids = i.stream.ids;
      expect(ids.filter((id) => id === sent[0]!.id)).toHaveLength(1);
      expect(ids).toHaveLength(want.size + 1);
      const poolOrder = ids.filter((id) => totals.some((t) => t.id === id));
      expect(poolOrder).toEqual(totals.map((t) => t.id));
      const st = i.consumer.status();
      expect(st.state).toBe('running');
      expect(st.duplicates).toBe(1);
      const data = JSON.parse(i.stream.events.find((ev) => ev.id === totals[4]!.id)!.data);
      expect(data.payload.total.grossAmounts[0].decimalAmount).toBe(5);
    }
    const status = await (await fetch(`${instances[0]!.sse.url}/status`)).json();
    expect(status.source.kind).toBe('pubsub');
    expect(status.source.subscriptions).toHaveLength(CATALOG.length + 1);
    expect(status.source.lag.samples).toBeGreaterThan(0);
    const metrics = await (await fetch(`${instances[0]!.sse.url}/metrics`)).text();
    expect(metrics).toMatch(/sse_consumer_messages_total\{outcome="duplicate"\} 1/);
    expect(metrics).toMatch(/sse_consumer_subscriptions\{state="active"\} 16/);
  });

  it('refuses a message that is not an envelope: counted, dead-lettered with a reason, never streamed', async () => {
    const topic = entryForMessageType('PoolTotalChanged')!.topic;
    await admin.topic(topic).publishMessage({ data: Buffer.from('{"not":"an envelope"'), attributes: { messageType: 'PoolTotalChanged' } });
    const wrongType = { ...envelopeFor('PoolTotalChanged'), type: 'EventUpdated' };
    await admin.topic(topic).publishMessage({ data: Buffer.from(JSON.stringify(wrongType)) });
    for (const i of instances) await waitFor(() => i.consumer.status().invalid === 2, { timeoutMs: 20_000, what: 'invalid count' });
    await waitFor(() => deadLetters.length === 4, { timeoutMs: 20_000, what: 'dead letters from both instances' });
    expect(deadLetters.map((d) => d.reason).sort()).toEqual(['invalid-frame', 'invalid-frame', 'invalid-json', 'invalid-json']);
    expect(deadLetters.find((d) => d.reason === 'invalid-frame')!.detail).toContain('does not belong');
    for (const i of instances) expect(i.stream.ids).not.toContain(wrongType.id);
    // The same line the subscriber logs, which the dead-letter log metric counts.
    const logged = logLines.map((l) => JSON.parse(l)).filter((l) => l.message === 'dead letter');
    expect(logged.map((l) => l.reason).sort()).toEqual(['invalid-frame', 'invalid-frame', 'invalid-json', 'invalid-json']);
  });

  it("serves the subscriber's day card on both instances; an older or malformed card changes nothing", async () => {
    const card: DayCard = {
      events: [
        {
          id: 'ev-card-1',
          name: 'Card Stakes',
          venue: 'Ascot',
          scheduledStart: '2026-11-21T13:30:00Z',
          status: 'SCHEDULED',
          competitors: [],
        },
      ],
      products: [{ id: 'pr-card-1', name: 'Win', betType: 'WIN', eventIds: ['ev-card-1'], status: 'OPEN', selections: [] }],
      truncated: false,
    };
    const publishCard = (c: unknown, fetchedAt: string) =>
      admin.topic(DAY_CARD_TOPIC).publishMessage({ data: Buffer.from(JSON.stringify(c)), attributes: { kind: 'day-card', fetchedAt } });
    await publishCard(card, '2026-11-21T08:00:00.000Z');
    const namesOf = async (i: (typeof instances)[number]) => (await fetch(`${i.sse.url}/names`)).json();
    for (const i of instances) {
      await waitFor(async () => (await namesOf(i)).events['ev-card-1']?.name === 'Card Stakes', {
        timeoutMs: 20_000,
        what: `card on ${i.id}`,
      });
    }
    const before = deadLetters.length;
    await publishCard({ ...card, events: [{ ...card.events[0]!, name: 'Older Stakes' }] }, '2026-11-21T07:00:00.000Z');
    await publishCard({ events: 'not a list' }, '2026-11-21T09:00:00.000Z');
    for (const i of instances)
      await waitFor(() => i.consumer.status().staleDayCards === 1 && i.consumer.status().invalid === 3, {
        timeoutMs: 20_000,
        what: 'cards read',
      });
    await waitFor(() => deadLetters.length === before + 2, { timeoutMs: 20_000, what: 'malformed card dead-lettered by both' });
    for (const i of instances) {
      expect((await namesOf(i)).events['ev-card-1'].name).toBe('Card Stakes');
      expect((await (await fetch(`${i.sse.url}/status`)).json()).names).toMatchObject({ origin: 'bus', cards: 1 });
    }
  });

  it('recreates a subscription deleted behind its back and keeps streaming', async () => {
    const alpha = instances[0]!;
    const entry = entryForMessageType('EventStatusChanged')!;
    const name = subscriptionNameFor('sse', alpha.id, entry.topic);
    await admin.subscription(name).delete();
    await waitFor(
      async () => {
        const sub = alpha.consumer.status().subscriptions;
        const [exists] = await admin.subscription(name).exists();
        return exists && sub.find((x) => x.name === name)?.state === 'active';
      },
      { timeoutMs: 30_000, what: 'subscription recreated' },
    );
    // It may have missed messages meanwhile: open pages are told to resync rather than left with a silent gap.
    await waitFor(() => alpha.stream.named('resync').length >= 1, { what: 'resync after the reopen' });
    expect(JSON.parse(alpha.stream.named('resync')[0]!.data).reason).toBe('gap');
    const e = envelopeFor('EventStatusChanged');
    await waitFor(
      async () => {
        // Published until it arrives: the recreated subscription only sees messages published after it exists.
        if (!alpha.stream.ids.includes(e.id)) await publisher.publish(e);
        return alpha.stream.ids.includes(e.id);
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'message through the recreated subscription' },
    );
  });

  it('deletes its own subscriptions on close, leaving the other instance streaming', async () => {
    const beta = instances[1]!;
    await beta.sse.close();
    await beta.consumer.close();
    expect(beta.consumer.status().state).toBe('closed');
    const subs = await projectSubscriptions();
    expect(subs.filter((s) => s.includes('beta-2'))).toEqual([]);
    expect(subs.filter((s) => s.includes('alpha-1'))).toHaveLength(CATALOG.length + 1);
    const after = envelopeFor('EventStatusChanged');
    await publisher.publish(after);
    await waitFor(() => instances[0]!.stream.ids.includes(after.id), { timeoutMs: 20_000, what: 'alpha still streaming' });
    const health = await fetch(`${instances[0]!.sse.url}/health`);
    expect(health.status).toBe(200);
    instances.splice(1, 1);
  });
});
