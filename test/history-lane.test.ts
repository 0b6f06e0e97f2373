import { describe, expect, it } from 'vitest';
import { allRetry, allStored, type InsertOutcome, type RowInserter } from '../src/history/inserter.js';
import { BatchLane, HistoryClosedError, type LaneEvents, type LaneLimits, type RefusedRows } from '../src/history/lane.js';
import { entryForRootField } from '../src/catalog/catalog.js';
import { makeDeadLetter, makeEnvelope } from '../src/envelope/envelope.js';
import { deadLetterRow, messageRow, restoreRow, type HistoryRow, type HistoryTable } from '../src/history/rows.js';
import { DEAD_LETTERS_TABLE, MESSAGES_TABLE } from '../src/history/schema.js';
import type { HistorySpill } from '../src/history/spill/spill.js';
import { waitFor } from './helpers/ports.js';

/**
 * BatchLane on its own, between a fake store and a fake spill: the two
 * interfaces at its edge (RowInserter, HistorySpill), each answering as the
 * test says, so every rule of the lane can be driven step by step.
 */

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const row = (i: number, table: HistoryTable = MESSAGES_TABLE): HistoryRow =>
  restoreRow(table, `id-${i}`, { envelope_id: `id-${i}`, n: String(i) });
const rows = (n: number, table?: HistoryTable) => Array.from({ length: n }, (_, i) => row(i, table));
const ids = (rs: readonly HistoryRow[]) => rs.map((r) => r.insertId);

/** A store that answers each insert with what `answer` returns (by default: stored). */
class FakeStore implements RowInserter {
  readonly name = 'fake';
  readonly batches: string[][] = [];
  constructor(public answer: (rows: readonly HistoryRow[], call: number) => InsertOutcome | Promise<InsertOutcome> = allStored) {}
  async connect(): Promise<void> {}
  async close(): Promise<void> {}
  insert(_table: HistoryTable, rs: readonly HistoryRow[]): Promise<InsertOutcome> {
    this.batches.push(ids(rs));
    return Promise.resolve(this.answer(rs, this.batches.length - 1));
  }
}

class FakeSpill implements HistorySpill {
  readonly name = 'fake-spill';
  readonly spilled: { ids: string[]; reason: string }[] = [];
  constructor(public answer: (rows: readonly HistoryRow[]) => Promise<void> = async () => {}) {}
  async connect(): Promise<void> {}
  async close(): Promise<void> {}
  async spill(rs: readonly HistoryRow[], reason: string): Promise<void> {
    await this.answer(rs);
    this.spilled.push({ ids: ids(rs), reason });
  }
}

function recorder() {
  const seen = { stored: [] as string[], invalid: [] as string[], spilled: [] as string[], lost: [] as string[], errors: [] as string[] };
  const events: LaneEvents = {
    stored: (rs) => seen.stored.push(...ids(rs)),
    invalid: (r) => seen.invalid.push(r.insertId),
    spilled: (rs) => seen.spilled.push(...ids(rs)),
    lost: (rs) => seen.lost.push(...ids(rs)),
    error: (m) => seen.errors.push(m),
  };
  return { seen, events };
}

const LIMITS: LaneLimits = {
  batch: { maxRows: 4, maxBytes: 1 << 20, maxDelayMs: 10_000 },
  buffer: { maxRows: 8, maxBytes: 1 << 20 },
  retry: { initialMs: 1, maxMs: 2 },
  spillAfterMs: 60_000,
};

function lane(
  store: RowInserter,
  spill: HistorySpill | null,
  limits: Partial<LaneLimits> = {},
  refused: RefusedRows = 'report',
  table: HistoryTable = MESSAGES_TABLE,
) {
  const { seen, events } = recorder();
  const l = new BatchLane(table, store, spill, { ...LIMITS, ...limits }, events, refused);
  l.start();
  return { l, seen };
}

/** A lane whose store holds every batch until `gate` opens, and ten rows for its 8-row buffer. */
function slowStoreWithTenRows() {
  const gate = deferred<void>();
  const store = new FakeStore(async (rs) => {
    await gate.promise;
    return allStored(rs);
  });
  return { gate, ...lane(store, null), sent: rows(10) };
}

describe('BatchLane', () => {
  it('stores rows in batches of at most maxRows, each row once, in order; flush waits for the last one', async () => {
    const store = new FakeStore();
    const { l, seen } = lane(store, null);
    const sent = rows(10);
    for (const r of sent) await l.add(r);
    await l.flush();
    expect(store.batches.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(seen.stored).toEqual(ids(sent));
    expect(l.backlog()).toEqual({ rows: 0, bytes: 0, waitingWriters: 0 });
    await l.close(1_000);
    expect(l.state).toBe('closed');
  });

  it('retries what the store says to retry, and stores it once it recovers', async () => {
    const store = new FakeStore((rs, call) => (call < 3 ? allRetry(rs, `down ${call}`) : allStored(rs)));
    const { l, seen } = lane(store, null);
    for (const r of rows(3)) await l.add(r);
    await l.flush();
    expect(store.batches).toHaveLength(4);
    expect(seen.stored).toEqual(['id-0', 'id-1', 'id-2']);
    expect(seen.errors).toEqual(['down 0', 'down 1', 'down 2']);
    expect({ attempts: l.attempts, retries: l.retries, failingSince: l.failingSince }).toEqual({
      attempts: 4,
      retries: 3,
      failingSince: null,
    });
    await l.close(1_000);
  });

  it('makes writers wait while the buffer is full and a healthy store is slow, and lets them in as rows are stored', async () => {
    const { gate, l, seen, sent } = slowStoreWithTenRows();
    const writes = sent.map((r) => l.add(r));
    let admitted = 0;
    for (const w of writes) void w.then(() => admitted++);
    await waitFor(() => l.backlog().waitingWriters === 2, { what: 'two writers over the 8-row buffer' });
    expect(admitted).toBe(8);
    gate.resolve();
    await Promise.all(writes);
    await l.flush();
    expect(seen.stored.sort()).toEqual(ids(sent).sort());
    await l.close(1_000);
  });

  it('takes a row at once while the buffer has room, and past it waits like add() without losing or repeating a row', async () => {
    const { gate, l, seen, sent } = slowStoreWithTenRows();
    const answers = sent.map((r) => l.addNow(r));
    // The 8-row buffer took the first eight there and then; the last two wait for room.
    expect(answers.slice(0, 8)).toEqual(Array(8).fill(undefined));
    expect(answers.slice(8).every((a) => a instanceof Promise)).toBe(true);
    expect(l.backlog()).toMatchObject({ rows: 8, waitingWriters: 2 });
    gate.resolve();
    await Promise.all(answers.filter((a) => a !== undefined));
    await l.flush();
    expect(seen.stored.sort()).toEqual(ids(sent).sort());
    const closing = l.close(1_000);
    await expect(l.addNow(row(99))).rejects.toBeInstanceOf(HistoryClosedError);
    await closing;
  });

  it('spills a batch that keeps failing past spillAfterMs instead of retrying it further', async () => {
    const store = new FakeStore((rs) => allRetry(rs, 'warehouse down'));
    const spill = new FakeSpill();
    const { l, seen } = lane(store, spill, { spillAfterMs: 0 });
    for (const r of rows(4)) await l.add(r);
    await l.flush();
    expect(seen.spilled).toEqual(['id-0', 'id-1', 'id-2', 'id-3']);
    expect(spill.spilled[0]!.reason).toMatch(/store failing since .*: warehouse down/);
    expect(store.batches).toHaveLength(1);
    expect(seen.stored).toEqual([]);
    await l.close(1_000);
  });

  it('reports rows the store refuses, in report mode, and stores the rest of the batch', async () => {
    const store = new FakeStore((rs) => ({
      stored: rs.slice(1),
      invalid: [{ row: rs[0]!, reason: 'bad timestamp' }],
      retry: [],
      error: null,
    }));
    const { l, seen } = lane(store, new FakeSpill());
    for (const r of rows(4)) await l.add(r);
    await l.flush();
    expect(seen.invalid).toEqual(['id-0']);
    expect(seen.stored).toEqual(['id-1', 'id-2', 'id-3']);
    await l.close(1_000);
  });

  it('spills refused rows itself in spill mode, and flush and close wait until the spill has them', async () => {
    const store = new FakeStore((rs) => ({
      stored: rs.slice(1),
      invalid: [{ row: rs[0]!, reason: 'no such field' }],
      retry: [],
      error: null,
    }));
    const spillGate = deferred<void>();
    const spillCalled = deferred<void>();
    const spill = new FakeSpill(async () => {
      spillCalled.resolve();
      await spillGate.promise;
    });
    const { l, seen } = lane(store, spill, {}, 'spill', DEAD_LETTERS_TABLE);
    for (const r of rows(4, DEAD_LETTERS_TABLE)) await l.add(r);
    let flushed = false;
    const flush = l.flush().then(() => (flushed = true));
    await spillCalled.promise;
    // The refused row is still the lane's: counted in the backlog, flush not done.
    expect(l.backlog().rows).toBe(1);
    expect(flushed).toBe(false);
    spillGate.resolve();
    await flush;
    expect(seen.spilled).toEqual(['id-0']);
    expect(spill.spilled[0]!.reason).toMatch(/tote_dead_letters refused the row: no such field/);
    expect(seen.invalid).toEqual([]);
    await l.close(1_000);
  });

  it('at close with a store that never answers, spills what it holds within the time, and ignores the late answer', async () => {
    const late = deferred<InsertOutcome>();
    const store = new FakeStore(() => late.promise);
    const spill = new FakeSpill();
    const { l, seen } = lane(store, spill);
    const sent = rows(6);
    for (const r of sent) await l.add(r);
    await waitFor(() => store.batches.length === 1, { what: 'a batch in flight' });
    await l.close(30);
    expect(l.state).toBe('closed');
    expect(seen.spilled.sort()).toEqual(ids(sent).sort());
    expect(l.backlog().rows).toBe(0);
    late.resolve(allStored(sent.slice(0, 4)));
    await new Promise((r) => setImmediate(r));
    expect(seen.stored).toEqual([]);
    await expect(l.add(row(99))).rejects.toBeInstanceOf(HistoryClosedError);
  });

  it('logs as lost (never drops) what neither the store nor the spill takes at close', async () => {
    const store = new FakeStore((rs) => allRetry(rs, 'down'));
    const spill = new FakeSpill(() => Promise.reject(new Error('spill down')));
    const { l, seen } = lane(store, spill, { spillAfterMs: 60_000 });
    for (const r of rows(3)) await l.add(r);
    await l.close(60);
    expect(seen.lost.sort()).toEqual(['id-0', 'id-1', 'id-2']);
    expect(seen.stored).toEqual([]);
    expect(l.backlog().rows).toBe(0);
  });

  it('moves through its states in order and refuses rows once closing', async () => {
    const { seen, events } = recorder();
    const l = new BatchLane(MESSAGES_TABLE, new FakeStore(), null, LIMITS, events);
    expect(l.state).toBe('created');
    l.start();
    expect(l.state).toBe('running');
    await l.add(row(1));
    const closing = l.close(1_000);
    expect(l.state).toBe('closing');
    await expect(l.add(row(2))).rejects.toBeInstanceOf(HistoryClosedError);
    // A second close is the same close.
    expect(l.close(1_000)).toBe(closing);
    await closing;
    expect(l.state).toBe('closed');
    expect(seen.stored).toEqual(['id-1']);
  });
});

describe('history rows', () => {
  it('are sized at exactly the bytes of their JSON text, whatever the text holds', () => {
    const entry = entryForRootField('onPoolTotalChanged')!;
    const origin = { source: 'tote', protocol: 'graphql-ws' as const, connectionId: 'c "1"', instanceId: 'é\\i' };
    const payloads = [
      { productId: 'p1', note: 'plain' },
      { productId: 'p2', note: 'quotes " and backslashes \\ and a tab\t' },
      { productId: 'p3', note: 'Café, 競馬, 🐎' },
      { productId: 'p4', note: 'a lone surrogate \ud800 here' },
    ];
    for (const payload of payloads) {
      const r = messageRow(makeEnvelope(entry, payload, { productId: payload.productId }, origin));
      // What the stores' batch and buffer limits count: the row as it goes over the wire.
      expect(r.bytes).toBe(Buffer.byteLength(JSON.stringify(r.json)) + r.insertId.length + 32);
    }
    const dl = deadLetterRow(makeDeadLetter('invalid-json', 'not "JSON"', '{"a": \ud83d', origin));
    expect(dl.bytes).toBe(Buffer.byteLength(JSON.stringify(dl.json)) + dl.insertId.length + 32);
    expect(dl.json.raw_truncated).toBe(false);
  });
});
