import { afterEach, describe, expect, it, vi } from 'vitest';
import { envelopeAttributes } from '../src/bus/attributes.js';
import { PublishSequence, readPublishOrder } from '../src/bus/publish-order.js';
import { ReorderWindow } from '../src/sse/reorder.js';

afterEach(() => vi.useRealTimers());

function window(windowMs: number, maxHeld = 100) {
  const out: { id: string; late: boolean }[] = [];
  const w = new ReorderWindow<string>(windowMs, maxHeld, (id, late) => out.push({ id, late }));
  return { w, out, ids: () => out.map((o) => o.id) };
}

describe('reorder window before the SSE streams', () => {
  it('streams events that arrived out of id order in id order, one window after they arrived', () => {
    vi.useFakeTimers();
    const { w, ids } = window(1_000);
    for (const id of ['03', '01', '02', '05', '04']) w.push(id, id);
    vi.advanceTimersByTime(999);
    expect(ids()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ids()).toEqual(['01', '02', '03', '04', '05']);
    expect(w.size).toBe(0);
  });

  it('streams an event that comes after a larger id was streamed at once, marked late, and counts it', () => {
    vi.useFakeTimers();
    const { w, out } = window(1_000);
    w.push('10', '10');
    vi.advanceTimersByTime(1_000);
    w.push('09', '09');
    expect(out).toEqual([
      { id: '10', late: false },
      { id: '09', late: true },
    ]);
    expect(w.counts.late).toBe(1);
  });

  it('at its bound releases the smallest ids early instead of holding more', () => {
    vi.useFakeTimers();
    const { w, ids } = window(60_000, 3);
    for (const id of ['1', '2', '3', '4']) w.push(id, id);
    expect(ids()).toEqual(['1']);
    expect(w.size).toBe(3);
    expect(w.counts.forced).toBe(1);
  });

  it('hands over everything it holds, in id order, when flushed at shutdown', () => {
    vi.useFakeTimers();
    const { w, ids } = window(60_000);
    for (const id of ['b', 'a', 'c']) w.push(id, id);
    w.flush();
    expect(ids()).toEqual(['a', 'b', 'c']);
    vi.advanceTimersByTime(60_000);
    expect(ids()).toEqual(['a', 'b', 'c']);
  });

  it('with no window streams each event as it arrives', () => {
    const { w, ids } = window(0);
    for (const id of ['2', '1']) w.push(id, id);
    expect(ids()).toEqual(['2', '1']);
  });
});

describe('reorder window with the publisher session and numbers', () => {
  /** Ids sort like the numbers here: one session's ids and numbers rise together, as the publisher stamps them. */
  const id = (n: number, prefix = 'a') => `${prefix}${String(n).padStart(6, '0')}`;
  const at = (session: string, seq: number) => ({ session, seq });

  /** A window whose session `s1` is past its first window, with numbers up to `upTo` streamed. */
  function settled(upTo = 1, windowMs = 1_000, maxHeld = 100) {
    vi.useFakeTimers();
    const r = window(windowMs, maxHeld);
    for (let n = 1; n <= upTo; n++) r.w.push(id(n), id(n), at('s1', n));
    vi.advanceTimersByTime(windowMs);
    expect(r.ids()).toHaveLength(upTo);
    r.out.length = 0;
    return r;
  }

  it('streams each event at once while every smaller number of its session has arrived', () => {
    const { w, ids } = settled(3);
    const before = w.counts.inSequence;
    w.push(id(4), id(4), at('s1', 4));
    expect(ids()).toEqual([id(4)]);
    w.push(id(5), id(5), at('s1', 5));
    w.push(id(6), id(6), at('s1', 6));
    expect(ids()).toEqual([id(4), id(5), id(6)]);
    expect(w.size).toBe(0);
    expect(w.counts.inSequence - before).toBe(3);
  });

  it('holds an event behind a missing number until that number arrives, then streams both in order', () => {
    const { w, ids } = settled(1);
    w.push(id(3), id(3), at('s1', 3));
    w.push(id(4), id(4), at('s1', 4));
    vi.advanceTimersByTime(500);
    expect(ids()).toEqual([]);
    w.push(id(2), id(2), at('s1', 2));
    expect(ids()).toEqual([id(2), id(3), id(4)]);
    expect(w.counts.gapWaits).toBe(2);
    expect(w.counts.gapTimeouts).toBe(0);
    expect(w.counts.late).toBe(0);
  });

  it('streams through a gap that never fills once the window runs out, and streams the next numbers at once again', () => {
    const { w, ids, out } = settled(1);
    w.push(id(3), id(3), at('s1', 3));
    vi.advanceTimersByTime(999);
    expect(ids()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ids()).toEqual([id(3)]);
    expect(w.counts.gapTimeouts).toBe(1);
    w.push(id(4), id(4), at('s1', 4));
    expect(ids()).toEqual([id(3), id(4)]);
    // The missing one turning up after all is streamed at once and counted late, as with the plain window.
    w.push(id(2), id(2), at('s1', 2));
    expect(out.at(-1)).toEqual({ id: id(2), late: true });
    expect(w.counts.late).toBe(1);
  });

  it('streams a session that begins while no other is about from its first number at once, holding only behind gaps', () => {
    vi.useFakeTimers();
    const { w, ids } = window(1_000);
    w.push(id(1), id(1), at('s1', 1));
    expect(ids()).toEqual([id(1)]);
    w.push(id(3), id(3), at('s1', 3));
    expect(ids()).toEqual([id(1)]);
    w.push(id(2), id(2), at('s1', 2));
    expect(ids()).toEqual([id(1), id(2), id(3)]);
    expect(w.counts.inSequence).toBe(3);
    expect(w.counts.gapTimeouts).toBe(0);
  });

  it('joins a session part way: waits out the window once behind the numbers it never saw, in id order, counting no gap timeout', () => {
    vi.useFakeTimers();
    const { w, ids } = window(1_000);
    // An instance starting mid-feed: the first number it sees is not the session's first, nor the smallest to come.
    w.push(id(501), id(501), at('s1', 501));
    w.push(id(500), id(500), at('s1', 500));
    vi.advanceTimersByTime(999);
    expect(ids()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ids()).toEqual([id(500), id(501)]);
    w.push(id(502), id(502), at('s1', 502));
    expect(ids()).toEqual([id(500), id(501), id(502)]);
    expect(w.counts.gapTimeouts).toBe(0);
  });

  it('when a new session appears, holds both old and new for the window so the old holder’s late ids still come first', () => {
    const { w, ids } = settled(1);
    // The new holder's first message, then one of the old holder's still in flight with a smaller id.
    w.push(id(100, 'b'), id(100, 'b'), at('s2', 1));
    w.push(id(2), id(2), at('s1', 2));
    vi.advanceTimersByTime(999);
    expect(ids()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ids()).toEqual([id(2), id(100, 'b')]);
    expect(w.counts.late).toBe(0);
    // Once only the new session has arrived for a window, its numbers stream at once.
    vi.advanceTimersByTime(1_000);
    w.push(id(101, 'b'), id(101, 'b'), at('s2', 2));
    expect(ids()).toEqual([id(2), id(100, 'b'), id(101, 'b')]);
  });

  it('keeps id order while two sessions interleave, and no event is late', () => {
    const { w, out } = settled(1);
    // Two holders overlapping in a deploy: their ids interleave, and their topics arrive in scrambled order.
    const arrivals: [number, string, number][] = [
      [40, 's1', 3],
      [50, 's2', 2],
      [20, 's1', 2],
      [30, 's2', 1],
      [60, 's1', 4],
      [70, 's2', 3],
    ];
    for (const [i, s, n] of arrivals) {
      w.push(id(i), id(i), at(s, n));
      vi.advanceTimersByTime(100);
    }
    vi.advanceTimersByTime(2_000);
    expect(out.map((o) => o.id)).toEqual([20, 30, 40, 50, 60, 70].map((i) => id(i)));
    expect(out.every((o) => !o.late)).toBe(true);
  });

  it('waits out the window for messages without numbers while they arrive, as before', () => {
    const { w, ids } = settled(1);
    w.push(id(2), id(2));
    w.push(id(3), id(3), at('s1', 2));
    expect(ids()).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(ids()).toEqual([id(2), id(3)]);
  });

  it('at its bound releases the smallest ids early even while they wait for a gap', () => {
    const { w, ids } = settled(1, 60_000, 3);
    for (const n of [3, 4, 5]) w.push(id(n), id(n), at('s1', n));
    expect(ids()).toEqual([]);
    w.push(id(6), id(6), at('s1', 6));
    // The bound gave up on number 2, so 3-6 are contiguous: all of them go, not only the oldest.
    expect(ids()).toEqual([id(3), id(4), id(5), id(6)]);
    expect(w.size).toBe(0);
    expect(w.counts.forced).toBe(1);
    expect(w.counts.gapTimeouts).toBe(1);
    w.push(id(7), id(7), at('s1', 7));
    expect(ids()).toEqual([id(3), id(4), id(5), id(6), id(7)]);
  });
});

describe('publish numbers as Pub/Sub attributes', () => {
  it('numbers envelopes from 1 in one session, and reads back what it wrote', () => {
    const seq = new PublishSequence();
    const attrs = [seq.next(), seq.next()].map((o) =>
      envelopeAttributes({ id: 'x', type: 'T', rootField: 'r', receivedAt: 't', source: 's', keys: {} } as never, o),
    );
    expect(attrs.map((a) => readPublishOrder(a))).toEqual([
      { session: seq.session, seq: 1 },
      { session: seq.session, seq: 2 },
    ]);
    expect(new PublishSequence().session).not.toBe(seq.session);
  });

  it('takes malformed or missing numbers as none, so the message is still streamed, after the window', () => {
    const cases: Record<string, string>[] = [
      {},
      { publisherSession: 's' },
      { publisherSession: 's', publisherSeq: '0' },
      { publisherSession: 's', publisherSeq: '-3' },
      { publisherSession: 's', publisherSeq: '1.5' },
      { publisherSession: 's', publisherSeq: '99999999999999999' },
      { publisherSession: '', publisherSeq: '1' },
      { publisherSession: 'x'.repeat(65), publisherSeq: '1' },
    ];
    for (const attrs of cases) {
      expect(readPublishOrder(attrs), JSON.stringify(attrs)).toBeUndefined();
    }
  });
});
