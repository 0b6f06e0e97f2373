import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import { PubSubPublisher } from '../../src/bus/pubsub-publisher.js';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC } from '../../src/catalog/catalog.js';
import { loadConfig } from '../../src/config/index.js';
import type { Envelope } from '../../src/envelope/envelope.js';
import { createHistorySink } from '../../src/history/index.js';
import { DEAD_LETTER_COLUMNS, DEAD_LETTERS_TABLE, MESSAGE_COLUMNS, MESSAGES_TABLE } from '../../src/history/schema.js';
import { FakeBigQuery } from '../bigquery-server/fake-bigquery.js';
import { localAuthClient } from '../bigquery-server/local-auth.js';
import { createLogger } from '../../src/log/logger.js';
import { startSimulator } from '../../src/simulator/index.js';
import { startSseService } from '../../src/sse/index.js';
import { waitFor } from '../helpers/ports.js';
import { startHarness, TEST_KEY, type Harness } from '../helpers/subscriber-harness.js';
import { badInputMix } from './bad-input.js';
import { duplicatesOf, feedRow, identity, ResumingReader, rssSampler, SharedBus, sharedHistory, TopicReader } from './parts.js';
import { sigtermBigquery, sigtermDuckdb } from './sigterm-scenarios.js';
import { crossInstance, sseChurn, sseRestart } from './sse-scenarios.js';
import { startTcpProxy } from './tcp-proxy.js';
import { notRun } from './rows.js';
import { changesDuringDisconnect, dstWindowEdges } from './window-scenarios.js';

export interface Row {
  scenario: string;
  sent: number | null;
  received: number | null;
  published: number | null;
  stored: number | null;
  deadLettered: number | null;
  lost: number | null;
  duplicated: number | null;
  peakRssMb: number | null;
  note: string;
}

export interface RunOptions {
  /** The full form (npm run chaos) or the short one inside npm test. */
  full: boolean;
  /** host:port of a Pub/Sub emulator; scenarios that need one report "not run" without it. */
  emulatorHost: string;
}

export interface Scenario {
  name: string;
  /** Runs in the short form inside npm test. */
  short: boolean;
  run(o: RunOptions): Promise<Row>;
}

const POOL_TOPIC = CATALOG.find((e) => e.rootField === 'onPoolTotalChanged')!.topic;
const ALL_TOPICS = [...CATALOG.map((e) => e.topic), DEAD_LETTER_TOPIC, DAY_CARD_TOPIC];
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms)); // paces a feed; never used to wait for a result
const totalsOf = (h: Harness) =>
  (h.service.status() as any).totals as { received: number; published: number; outboxed: number; deadLettered: number; inFlight: number };
const poolTotals = (es: readonly Envelope[]) => es.filter((e) => e.type === 'PoolTotalChanged');

async function connected(h: Harness): Promise<void> {
  h.service.start();
  await waitFor(() => h.service.client.status().state === 'running' && h.sim.stats().operations === 15, {
    timeoutMs: 20_000,
    what: 'connected and subscribed',
  });
}

function tempDir(name: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `tote-chaos-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const badInput: Scenario = {
  name: 'bad-input mix (21 kinds)',
  short: true,
  async run(o) {
    const tmp = tempDir('bad');
    const rss = rssSampler();
    const env = {
      TOTE_PROTOCOL: 'graphql-ws',
      HISTORY: 'duckdb',
      DUCKDB_PATH: join(tmp.dir, 'tote.duckdb'),
      HISTORY_SPILL_FILE: join(tmp.dir, 'spill.jsonl'),
    };
    const history = createHistorySink(loadConfig({ ...env, TOTE_SUBSCRIPTIONS_URL: 'ws://unused', TOTE_API_KEY: TEST_KEY }).history);
    const h = await startHarness({ env, history });
    try {
      await connected(h);
      const opId = h.service.client.status().operations.onPoolTotalChanged!.id!;
      const frames = badInputMix(opId, TEST_KEY, o.full ? 2_100 : 1_050);
      for (const f of frames) h.sim.faults.sendRaw(f.text);
      await waitFor(() => totalsOf(h).received === frames.length, {
        timeoutMs: 300_000,
        what: () => `every frame counted (${totalsOf(h).received} of ${frames.length})`,
      });
      await h.service.stopAndFlush();
      const t = totalsOf(h);
      const hs = (h.service.status() as any).history;
      return {
        scenario: this.name,
        sent: frames.length,
        received: t.received,
        published: t.published,
        stored: hs.stored + hs.deadLettersStored,
        deadLettered: t.deadLettered,
        lost: frames.length - t.published - t.deadLettered - t.outboxed,
        duplicated: duplicatesOf(h.envelopes.map(identity)),
        peakRssMb: rss.stop(),
        note: `${h.service.client.status().reconnects} reconnects; key echoed in dead letters: ${h.bus.recentDeadLetters().filter((d) => d.raw.includes(TEST_KEY)).length}`,
      };
    } finally {
      rss.stop();
      await h.close();
      tmp.remove();
    }
  },
};

const pubsubOutage: Scenario = {
  name: 'Pub/Sub outage, back without topics',
  short: true,
  async run(o) {
    if (!o.emulatorHost) return notRun(this.name, 'no Pub/Sub emulator');
    const outageTicks = o.full ? 300 : 20; // 100 ms ticks: 30 s or 2 s
    const project = `chaos-${randomBytes(4).toString('hex')}`;
    const proxy = await startTcpProxy(o.emulatorHost);
    const admin = new PubSub({ projectId: project, apiEndpoint: o.emulatorHost, emulatorMode: true });
    const config = loadConfig({
      BUS: 'pubsub',
      PUBSUB_EMULATOR_HOST: proxy.host,
      GOOGLE_CLOUD_PROJECT: project,
      PUBSUB_PUBLISH_TIMEOUT_MS: '5000',
    });
    const publisher = new PubSubPublisher(config.bus, createLogger({ component: 'chaos-publisher' }));
    const h = await startHarness({ publisher });
    const reader = new TopicReader(admin, POOL_TOPIC);
    const rss = rssSampler();
    try {
      await reader.listen('chaos-before');
      await connected(h);
      let sent = 0;
      const ticks = outageTicks + 20;
      for (let i = 0; i < ticks; i++) {
        if (i === 10) proxy.down();
        if (i === 10 + Math.floor(outageTicks / 2)) {
          // Back empty, as a restarted emulator is.
          for (const t of ALL_TOPICS)
            await admin
              .topic(t)
              .delete()
              .catch(() => undefined);
          for (const t of ALL_TOPICS) await admin.createTopic(t);
          await reader.listen('chaos-after');
        }
        if (i === 10 + outageTicks) proxy.up();
        sent += h.sim.faults.burst(20);
        await pause(100);
      }
      await waitFor(() => totalsOf(h).received === sent && totalsOf(h).inFlight === 0, {
        timeoutMs: 180_000,
        what: 'everything published after the outage',
      });
      await waitFor(() => reader.distinct().size >= totalsOf(h).published, {
        timeoutMs: 60_000,
        what: 'the topic to carry every published message',
      }).catch(() => undefined);
      const t = totalsOf(h);
      const onTopic = reader.distinct().size;
      return {
        scenario: this.name,
        sent,
        received: t.received,
        published: t.published,
        stored: null,
        deadLettered: t.deadLettered,
        lost: sent - onTopic - t.deadLettered,
        duplicated: duplicatesOf(h.envelopes.map(identity)),
        peakRssMb: rss.stop(),
        note: `${outageTicks / 10} s unreachable at 200 msg/s; ${reader.copies.length - onTopic} redelivered copies on the topic (at-least-once)`,
      };
    } finally {
      rss.stop();
      proxy.up();
      await h.close();
      await reader.close();
      await admin.close();
      await proxy.close();
    }
  },
};

const twoInstances: Scenario = {
  name: 'two instances, handover (file lease)',
  short: true,
  async run(o) {
    const tmp = tempDir('two');
    const rss = rssSampler();
    const sim = await startSimulator({ apiKeys: [TEST_KEY], autoplay: false, kaIntervalMs: 200 });
    const bus = new SharedBus();
    const seen: Envelope[] = [];
    bus.subscribe((e) => seen.push(e));
    const duck = createHistorySink(
      loadConfig({ HISTORY: 'duckdb', DUCKDB_PATH: join(tmp.dir, 'tote.duckdb'), HISTORY_SPILL_FILE: join(tmp.dir, 'spill.jsonl') })
        .history,
    );
    await duck.connect();
    const sse = await startSseService({
      config: loadConfig({}).sse,
      source: bus,
      log: createLogger({ component: 'chaos-sse' }),
      host: '127.0.0.1',
    });
    const reader = new ResumingReader(`${sse.url}/events`);
    await reader.start();
    const env = {
      SUBSCRIBER_LEASE: `file:${join(tmp.dir, 'subscriber.lease')}`,
      SUBSCRIBER_LEASE_TTL_MS: '3000',
      SUBSCRIBER_LEASE_RENEW_MS: '500',
      SUBSCRIBER_LEASE_POLL_MS: '150',
    };
    const a = await startHarness({ simulator: sim, publisher: bus, history: sharedHistory(duck), env: { ...env, INSTANCE_ID: 'chaos-a' } });
    const b = await startHarness({ simulator: sim, publisher: bus, history: sharedHistory(duck), env: { ...env, INSTANCE_ID: 'chaos-b' } });
    try {
      const per = o.full ? 5_000 : 300;
      a.service.start();
      await waitFor(() => a.service.client.status().state === 'running' && sim.stats().operations === 15, { what: 'a connected' });
      b.service.start();
      await waitFor(() => (b.service.status() as any).lease.state === 'standby', { what: 'b standing by' });
      // 1,000 msg/s, in 100 ms ticks: a busy afternoon several times over.
      const paced = async () => {
        let n = 0;
        while (n < per) {
          n += sim.faults.burst(Math.min(100, per - n));
          await pause(100);
        }
        return n;
      };
      let sent = await paced();
      await waitFor(() => poolTotals(seen).length >= per, { timeoutMs: 60_000, what: 'the first half' });
      await a.service.stopAndFlush();
      await waitFor(() => b.service.client.status().state === 'running' && sim.stats().operations === 15 && sim.connections() === 1, {
        what: 'b took over',
      });
      sent += await paced();
      await waitFor(() => poolTotals(seen).length >= 2 * per, { timeoutMs: 60_000, what: 'the second half' });
      await b.service.stopAndFlush();
      await waitFor(() => reader.events('PoolTotalChanged').length >= 2 * per, { timeoutMs: 60_000, what: 'the SSE stream' }).catch(
        () => undefined,
      );
      const sseIds = reader.events('PoolTotalChanged').map((e) => JSON.stringify(JSON.parse(e.data).payload));
      const published = totalsOf(a).published + totalsOf(b).published;
      const hs = duck.status();
      const envelopes = poolTotals(seen);
      return {
        scenario: this.name,
        sent,
        received: totalsOf(a).received + totalsOf(b).received,
        published,
        stored: hs.stored,
        deadLettered: totalsOf(a).deadLettered + totalsOf(b).deadLettered,
        lost: sent - new Set(envelopes.map(identity)).size + Math.max(0, sent - new Set(sseIds).size),
        duplicated: duplicatesOf(envelopes.map(identity)) + duplicatesOf(sseIds) + Math.max(0, hs.stored - sent),
        peakRssMb: rss.stop(),
        note: `one socket at a time; SSE carried ${sseIds.length} (${reader.reconnects} resumes by Last-Event-ID)`,
      };
    } finally {
      rss.stop();
      reader.close();
      await a.close();
      await b.close();
      await sse.close();
      await duck.close();
      await sim.close();
      tmp.remove();
    }
  },
};

const bigqueryFailing: Scenario = {
  name: 'BigQuery stand-in failing (503)',
  short: true,
  async run(o) {
    const failTicks = o.full ? 600 : 30; // 100 ms ticks: a minute, or 3 s
    const tmp = tempDir('bq');
    const fake = await FakeBigQuery.start({
      project: 'chaos',
      dataset: 'tote',
      schemas: { [MESSAGES_TABLE]: MESSAGE_COLUMNS, [DEAD_LETTERS_TABLE]: DEAD_LETTER_COLUMNS },
    });
    const env = {
      HISTORY: 'bigquery',
      BQ_PROJECT: 'chaos',
      BQ_DATASET: 'tote',
      BQ_API_ENDPOINT: fake.url,
      HISTORY_SPILL: 'file',
      HISTORY_SPILL_FILE: join(tmp.dir, 'spill.jsonl'),
      HISTORY_RETRY_MAX_MS: '2000',
    };
    const cfg = loadConfig({ ...env, TOTE_SUBSCRIPTIONS_URL: 'ws://unused', TOTE_API_KEY: TEST_KEY });
    const history = createHistorySink(cfg.history, { bigqueryClientOptions: { authClient: localAuthClient() } });
    const h = await startHarness({ env, history });
    const rss = rssSampler();
    try {
      await connected(h);
      let failing = false;
      fake.setFaults(() => (failing ? { kind: 'status', status: 503, reason: 'backendError' } : null));
      let sent = 0;
      for (let i = 0; i < failTicks + 20; i++) {
        failing = i >= 10 && i < 10 + failTicks;
        sent += h.sim.faults.burst(20);
        await pause(100);
      }
      failing = false;
      await waitFor(() => new Set(fake.rows(MESSAGES_TABLE).map((r) => r.insertId)).size >= sent, {
        timeoutMs: 180_000,
        what: 'every row stored',
      }).catch(() => undefined);
      await h.service.stopAndFlush();
      const t = totalsOf(h);
      const rows = fake.rows(MESSAGES_TABLE);
      const stored = rows.map((r) => String(r.json.payload));
      return {
        scenario: this.name,
        sent,
        received: t.received,
        published: t.published,
        stored: rows.length,
        deadLettered: t.deadLettered,
        lost: sent - new Set(stored).size,
        duplicated: duplicatesOf(stored),
        peakRssMb: rss.stop(),
        note: `${failTicks / 10} s of 503s at 200 msg/s; ${fake.duplicatesDropped} retried rows dropped by insertId; spilled ${(h.service.status() as any).history.spilled}`,
      };
    } finally {
      rss.stop();
      await h.close();
      await fake.stop();
      tmp.remove();
    }
  },
};

/** Bursts while `fault` is applied every `everyTicks` 100 ms ticks. */
async function underFault(
  name: string,
  o: RunOptions,
  ticks: number,
  everyTicks: number,
  fault: (h: Harness) => void,
  quietDuringFault = 0,
): Promise<Row> {
  const h = await startHarness({ env: { TOTE_LIVENESS_TIMEOUT_MS: '1000' } });
  const rss = rssSampler();
  try {
    await connected(h);
    let sent = 0;
    let quiet = 0;
    for (let i = 1; i <= ticks; i++) {
      if (i % everyTicks === 0) {
        fault(h);
        quiet = quietDuringFault;
      }
      if (quiet > 0) quiet--;
      else sent += h.sim.faults.burst(20);
      await pause(100);
    }
    await waitFor(() => totalsOf(h).received === sent, { timeoutMs: 30_000, what: 'every frame written to an open socket' }).catch(
      () => undefined,
    );
    await h.service.stopAndFlush();
    return feedRow(
      name,
      sent,
      h,
      rss.stop(),
      `${h.service.client.status().reconnects} reconnects; sent counts frames written to an open socket (what Tote sends while we are away needs reconciliation)`,
    );
  } finally {
    rss.stop();
    await h.close();
  }
}

const disconnectStorm: Scenario = {
  name: 'disconnect storm (every 2.5 s)',
  short: true,
  // The tick of the cut sends nothing: a frame written to a socket as it dies is Tote's to resend (reconciliation).
  run: (o) => underFault('disconnect storm (every 2.5 s)', o, o.full ? 600 : 100, 25, (h) => h.sim.faults.disconnectAll(), 1),
};

const kaSilence: Scenario = {
  name: 'ka silence (3 s, socket open)',
  short: true,
  // Nothing is fed while the server is silent: its dropped frames are not "sent".
  run: (o) => underFault('ka silence (3 s, socket open)', o, o.full ? 300 : 80, 40, (h) => h.sim.faults.silence(3_000), 30),
};

export const SCENARIOS: Scenario[] = [
  badInput,
  pubsubOutage,
  twoInstances,
  disconnectStorm,
  kaSilence,
  bigqueryFailing,
  changesDuringDisconnect,
  sigtermDuckdb,
  sigtermBigquery,
  sseChurn,
  sseRestart,
  crossInstance,
  dstWindowEdges,
];

export function formatTable(rows: readonly Row[]): string {
  const head = ['scenario', 'sent', 'received', 'published', 'stored', 'dead-lettered', 'lost', 'duplicated', 'peak RSS MB', 'note'];
  const cells = rows.map((r) =>
    [r.scenario, r.sent, r.received, r.published, r.stored, r.deadLettered, r.lost, r.duplicated, r.peakRssMb, r.note].map((v) =>
      v === null ? '—' : String(v),
    ),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => '| ' + c.map((v, i) => v.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...cells.map(line)].join('\n');
}
