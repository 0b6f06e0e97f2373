import { afterEach, describe, expect, it, vi } from 'vitest';
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
