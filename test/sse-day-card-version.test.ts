import { createPubSub } from '../src/bus/pubsub-client.js';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PubSubPublisher } from '../src/bus/pubsub-publisher.js';
import { loadConfig } from '../src/config/index.js';
import type { SseConfig } from '../src/config/sse.js';
import { PubSubConsumer } from '../src/consumer/index.js';
import type { DayCard } from '../src/day-card/day-card.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import { waitFor } from './helpers/ports.js';

const host = inject('pubsubEmulatorHost');
const skipReason = inject('pubsubEmulatorSkip');
setLogWriter(() => {});
const log = createLogger({ test: 'day-card-version' });

const cardWith = (venue: string): DayCard => ({
  events: [{ id: 'ev-v1', name: '14:30 Handicap', venue, scheduledStart: '2026-12-01T14:30:00Z', status: 'SCHEDULED', competitors: [] }],
  products: [{ id: 'pr-v1', name: 'Win', betType: 'WIN', eventIds: ['ev-v1'], status: 'OPEN', selections: [] }],
  truncated: false,
});

interface Instance {
  consumer: PubSubConsumer;
  sse: SseService;
}

describe.skipIf(!host)(`day-card versions across SSE instances ${skipReason ? `(skipped: ${skipReason})` : ''}`, () => {
  const project = `sse-card-version-${randomBytes(3).toString('hex')}`;
  const config = loadConfig({ BUS: 'pubsub', PUBSUB_EMULATOR_HOST: host, GOOGLE_CLOUD_PROJECT: project });
  const admin = createPubSub({ projectId: project, emulatorHost: host });
  const running: Instance[] = [];
  let publisher: PubSubPublisher;

  const start = async (instanceId: string): Promise<Instance> => {
    const sse: SseConfig = { ...config.sse, instanceId, port: 0, host: '127.0.0.1' };
    const consumer = new PubSubConsumer({ config: config.bus, sse, log });
    await consumer.start();
    const i = { consumer, sse: await startSseService({ config: sse, source: consumer, log }) };
    running.push(i);
    return i;
  };
  const names = async (i: Instance) =>
    (await (await fetch(`${i.sse.url}/names`)).json()) as { version: number; events: Record<string, { venue: string }> };
  const showsVenue = (i: Instance, venue: string) =>
    waitFor(async () => (await names(i)).events['ev-v1']?.venue === venue, { timeoutMs: 20_000, what: `${venue} on the card` });

  beforeAll(async () => {
    publisher = new PubSubPublisher(config.bus, log);
    await publisher.connect();
  });

  afterAll(async () => {
    for (const i of running) {
      await i.sse.close();
      await i.consumer.close();
    }
    await publisher?.close();
    await admin.close();
  });

  it('gives a newer card a larger version on an instance that started later, and one card the same version everywhere', async () => {
    const alpha = await start('alpha-v');
    // Three changes of the card reach alpha: a per-process counter would stand at 3 there.
    for (const venue of ['Ascot', 'Newbury', 'Sandown']) {
      await publisher.publishDayCard(cardWith(venue));
      await showsVenue(alpha, venue);
    }
    const pageVersion = (await names(alpha)).version; // what a page that loaded alpha's card holds

    // A new instance (scale-out, deploy, restart) that only ever sees the newest card.
    const beta = await start('beta-v');
    await publisher.publishDayCard(cardWith('Kempton'));
    await showsVenue(alpha, 'Kempton');
    await showsVenue(beta, 'Kempton');

    const [a, b] = [await names(alpha), await names(beta)];
    // The page, reconnecting to beta, rereads /names and takes it only if the version is newer than its own.
    expect(b.version).toBeGreaterThan(pageVersion);
    expect(b.version).toBe(a.version);
  });

  it('leaves the version of an unchanged card where it was when the subscriber republishes it', async () => {
    const before = await names(running[0]!);
    const gamma = await start('gamma-v');
    // The subscriber republishes its card on every refresh; unchanged, it brings no new version to those that had it.
    await publisher.publishDayCard(cardWith('Kempton'));
    await waitFor(async () => gamma.consumer.status().dayCards >= 1, { timeoutMs: 20_000, what: 'the card on the new instance' });
    await waitFor(async () => running[0]!.consumer.status().dayCards >= 5, { timeoutMs: 20_000, what: 'the repeat on alpha' });
    expect((await names(running[0]!)).version).toBe(before.version);
    // The new instance holds the same names, stamped by the later publish: a page that moves there reloads once.
    const g = await names(gamma);
    expect(g.events['ev-v1']!.venue).toBe('Kempton');
    expect(g.version).toBeGreaterThan(before.version);
  });
});
