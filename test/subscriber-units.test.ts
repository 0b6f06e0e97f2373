import { describe, expect, it } from 'vitest';
import { buildSchema } from 'graphql';
import { inWindow } from '../src/window/daily-window.js';
import { FlowControl } from '../src/bus/flow-control.js';
import { RetryLanes, type OutgoingMessage } from '../src/bus/retry-lanes.js';
import { uuidv7, uuidv7Time } from '../src/envelope/uuidv7.js';
import { extractKeys, makeDeadLetter, DEAD_LETTER_RAW_LIMIT } from '../src/envelope/envelope.js';
import { entryForRootField } from '../src/catalog/catalog.js';
import { loadConfig, ConfigError } from '../src/config/index.js';
import { documentFromSchema, introspectionUrl } from '../src/tote/selection.js';
import { createLogger, registerSecret, setLogWriter } from '../src/log/logger.js';

const W = { start: '06:00', end: '23:00', timeZone: 'Europe/London' };

describe('daily window (Europe/London)', () => {
  it('follows UK clock time through BST and GMT', () => {
    // Summer (BST = UTC+1): 05:30Z is 06:30 in London.
    expect(inWindow(new Date('2026-07-01T05:30:00Z'), W)).toBe(true);
    expect(inWindow(new Date('2026-07-01T04:59:00Z'), W)).toBe(false);
    expect(inWindow(new Date('2026-07-01T22:00:00Z'), W)).toBe(false); // 23:00 BST
    // Winter (GMT): 05:30Z is 05:30 in London.
    expect(inWindow(new Date('2026-12-01T05:30:00Z'), W)).toBe(false);
    expect(inWindow(new Date('2026-12-01T22:30:00Z'), W)).toBe(true);
  });
});

describe('publisher flow control', () => {
  it('makes the next publish wait at the limit and lets it go when room is released', async () => {
    const fc = new FlowControl(2, 1_000_000);
    await fc.acquire(10);
    await fc.acquire(10);
    let third = false;
    const p = fc.acquire(10).then(() => (third = true));
    await Promise.resolve();
    expect(third).toBe(false);
    expect(fc.outstanding().waiting).toBe(1);
    fc.release(10);
    await p;
    expect(third).toBe(true);
    expect(fc.outstanding()).toEqual({ messages: 2, bytes: 20, waiting: 0 });
  });

  it('lets one oversized message through alone instead of deadlocking', async () => {
    const fc = new FlowControl(10, 100);
    await fc.acquire(500);
    expect(fc.outstanding().messages).toBe(1);
  });

  it('takes room at once only while nobody waits, so a small message cannot overtake a waiting one', async () => {
    const fc = new FlowControl(10, 100);
    expect(fc.tryAcquire(60)).toBe(true);
    expect(fc.tryAcquire(60)).toBe(false);
    const big = fc.acquire(60);
    // 10 bytes would fit, but the 60-byte message asked first.
    expect(fc.tryAcquire(10)).toBe(false);
    fc.release(60);
    await big;
    expect(fc.outstanding()).toEqual({ messages: 1, bytes: 60, waiting: 0 });
    expect(fc.tryAcquire(10)).toBe(true);
  });
});

describe('retry lanes', () => {
  /**
   * A transport shaped like the client's ordered publisher: what is handed
   * over in one turn goes as one batch; a failed batch pauses its ordering
   * key, and a paused key refuses at once (inside the call) until resumed.
   */
  function orderedTransport(failFirstBatch: boolean) {
    const delivered: string[] = [];
    const paused = new Set<string>();
    let batch: { m: OutgoingMessage; done: (err?: unknown) => void }[] = [];
    let fail = failFirstBatch;
    return {
      delivered,
      paused,
      attempt(m: OutgoingMessage, done: (err?: unknown) => void) {
        if (paused.has(m.orderingKey!)) return done(Object.assign(new Error('ordering key paused'), { code: 14 }));
        if (!batch.length)
          setImmediate(() => {
            const b = batch;
            batch = [];
            const err = fail ? Object.assign(new Error('unavailable'), { code: 14 }) : undefined;
            fail = false;
            if (err) paused.add(b[0]!.m.orderingKey!);
            for (const x of b) {
              if (!err) delivered.push(x.m.data);
              x.done(err);
            }
          });
        batch.push({ m, done });
      },
    };
  }

  it('gives back what each message holds exactly once, even when Pub/Sub answers after the outbox took it', async () => {
    const answers: ((err?: unknown) => void)[] = [];
    const released: number[] = [];
    const lanes = new RetryLanes({
      attempt: (_m, done) => void answers.push(done),
      classify: () => 'retry',
      released: (_m, hold) => void released.push(hold),
    });
    const msg = (i: number): OutgoingMessage => ({ topic: 't', data: `m${i}`, attributes: {}, id: `id${i}`, orderingKey: 'k' });
    const sent = [10, 20, 30].map((hold, i) => lanes.send(msg(i), hold));
    // Shutdown: all three are still out with the transport and go to the outbox.
    const unsent = lanes.drainUnsent();
    expect(unsent.map((u) => u.m.id)).toEqual(['id0', 'id1', 'id2']);
    for (const u of unsent) u.settle(true);
    // Then the transport's answers arrive after all.
    for (const done of answers) done();
    await new Promise((r) => setImmediate(r));
    expect(await Promise.all(sent)).toEqual(['outboxed', 'outboxed', 'outboxed']);
    expect(released.sort((a, b) => a - b)).toEqual([10, 20, 30]);
  });

  it('keeps an ordering key in order when its retry meets the key still paused and refusing at once', async () => {
    const t = orderedTransport(true);
    let retries = 0;
    const lanes = new RetryLanes({
      attempt: (m, done) => t.attempt(m, done),
      classify: () => 'retry',
      // The first retry fails before it can resume the key (say, recreating a topic), so that retry is refused inside the call.
      beforeRetry: async (lane) => {
        if (retries++ === 0) throw new Error('topic not ready');
        t.paused.delete(lane.orderingKey!);
      },
      minDelayMs: 2,
      maxDelayMs: 4,
    });
    const msg = (i: number): OutgoingMessage => ({ topic: 't', data: `m${i}`, attributes: {}, id: `id${i}`, orderingKey: 'k' });
    const sent = [0, 1, 2].map((i) => lanes.send(msg(i)));
    await new Promise((r) => setImmediate(r));
    // Handed over while the key is failing: they wait behind the first three.
    sent.push(...[3, 4].map((i) => lanes.send(msg(i))));
    expect(await Promise.all(sent)).toEqual(['published', 'published', 'published', 'published', 'published']);
    expect(t.delivered).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(retries).toBeGreaterThanOrEqual(2);
    expect(lanes.held()).toBe(0);
  });
});

describe('envelope ids', () => {
  it('are UUIDv7, strictly increasing within a process, and carry their time', () => {
    const t = Date.parse('2026-11-21T12:00:00Z');
    const ids = Array.from({ length: 5000 }, () => uuidv7(t));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(uuidv7Time(ids[0]!)).toBeGreaterThanOrEqual(t);
    expect(ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('entity keys', () => {
  it('reads the catalog keys and names the missing required ones', () => {
    const sel = entryForRootField('onSelectionStatusChanged')!;
    expect(extractKeys(sel, { productId: 'p', selectionId: 's', legId: 'l', status: 'Active' })).toEqual({
      ok: true,
      keys: { productId: 'p', selectionId: 's', legId: 'l' },
    });
    expect(extractKeys(sel, { productId: 'p', status: 'Active' })).toEqual({ ok: false, missing: ['selectionId'] });
  });

  it('cuts huge raw text in a dead letter and says so', () => {
    const dl = makeDeadLetter('invalid-json', 'x', 'a'.repeat(DEAD_LETTER_RAW_LIMIT + 10), {
      source: 't',
      protocol: null,
      connectionId: 'c',
      instanceId: 'i',
    });
    expect(dl.raw).toHaveLength(DEAD_LETTER_RAW_LIMIT);
    expect(dl.rawTruncated).toBe(true);
  });
});

describe('configuration', () => {
  it('runs locally on defaults', () => {
    const c = loadConfig({});
    expect(c.bus.kind).toBe('memory');
    expect(c.tote.subscriptionsUrl).toBeUndefined();
    expect(c.subscriber.port).toBe(8081);
  });

  it('does not switch to Pub/Sub because PUBSUB_EMULATOR_HOST is left in the shell', () => {
    expect(loadConfig({ PUBSUB_EMULATOR_HOST: 'localhost:8085' }).bus.kind).toBe('memory');
    // Nor the history spill: BigQuery rows must not spill into an emulator by accident.
    const bq = loadConfig({ HISTORY: 'bigquery', BQ_PROJECT: 'prod-proj', PUBSUB_EMULATOR_HOST: 'localhost:8085' }).history.spill;
    expect(bq).toMatchObject({ kind: 'pubsub', emulatorHost: undefined, createTopics: false, projectId: 'prod-proj' });
    const c = loadConfig({ BUS: 'pubsub', PUBSUB_EMULATOR_HOST: 'localhost:8085' });
    expect(c.bus.emulatorHost).toBe('localhost:8085');
    expect(c.bus.createTopics).toBe(true);
  });

  it('names every bad variable at once, without echoing secrets', () => {
    let err: unknown;
    try {
      loadConfig({
        TOTE_SUBSCRIPTIONS_URL: 'https://not-a-socket.example/',
        TOTE_LIVENESS_TIMEOUT_MS: 'soon',
        BUS: 'kafka',
        TOTE_API_KEY: 'sm://projects/p/secrets/only-three-parts',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('TOTE_SUBSCRIPTIONS_URL must use wss: or ws:');
    expect(msg).toContain('TOTE_LIVENESS_TIMEOUT_MS must be a whole number');
    expect(msg).toContain('BUS must be one of memory, pubsub');
    expect(msg).toContain('TOTE_API_KEY is not a valid Secret Manager reference');
    expect(msg).not.toContain('only-three-parts');
  });
});

describe('selection sets from the live schema', () => {
  const schema = buildSchema(`
    type Money { decimalAmount: Float currency: Currency }
    type Currency { code: String }
    type Amounts { grossAmounts: [Money] netAmounts: [Money] grossAmount: Money @deprecated(reason: "use grossAmounts") }
    type Pool { productId: ID! isFinalized: Boolean total: Amounts carryIn: Amounts history(last: Int!): [Amounts] }
    type Query { ok: Boolean }
    type Subscription { onPoolTotalChanged: Pool }
  `);

  it('selects every leaf (deprecated ones too, Tote still sends them), skips fields needing arguments and says so', () => {
    const doc = documentFromSchema(schema, entryForRootField('onPoolTotalChanged')!, 6);
    expect(doc.source).toBe('introspection');
    expect(doc.document).toContain('carryIn { grossAmounts { decimalAmount currency { code } }');
    expect(doc.document).toContain('grossAmount { decimalAmount currency { code } }');
    expect(doc.document).not.toContain('history');
    expect(doc.note).toContain('Pool.history (needs arguments)');
  });

  it('notes what a too-shallow depth limit left out', () => {
    const doc = documentFromSchema(schema, entryForRootField('onPoolTotalChanged')!, 2);
    expect(doc.note).toContain('Amounts.grossAmounts (deeper than the depth limit)');
  });

  it('falls back to the bundled document when the field is not in the schema', () => {
    const doc = documentFromSchema(schema, entryForRootField('onBetAccepted')!, 6);
    expect(doc.source).toBe('bundled');
    expect(doc.note).toContain('onBetAccepted');
  });

  it('introspects over HTTP on the subscription path', () => {
    expect(introspectionUrl('wss://hub.example/partner/connections/graphql/')).toBe('https://hub.example/partner/connections/graphql/');
  });
});

describe('logs', () => {
  it('are JSON lines in Cloud Logging shape with secrets redacted', () => {
    const lines: string[] = [];
    setLogWriter((l) => lines.push(l));
    try {
      registerSecret('super-secret-key-123');
      createLogger({ component: 't' }).error('failed with super-secret-key-123', { err: new Error('Api-Key super-secret-key-123') });
    } finally {
      setLogWriter((l) => process.stdout.write(l + '\n'));
    }
    const entry = JSON.parse(lines[0]!);
    expect(entry.severity).toBe('ERROR');
    expect(entry.component).toBe('t');
    expect(lines[0]).not.toContain('super-secret-key-123');
    expect(lines[0]).toContain('[redacted]');
  });
});
