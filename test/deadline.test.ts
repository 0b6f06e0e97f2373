import { describe, expect, it } from 'vitest';
import { raceDeadline, settlesBy } from '../src/deadline/deadline.js';

const never = () => new Promise<never>(() => {});
const DAY = 86_400_000;

describe('deadline', () => {
  it('gives the work’s value when it is done before the deadline', async () => {
    expect(await raceDeadline(Promise.resolve('done'), Date.now() + DAY, 'late')).toBe('done');
  });

  it('gives the late value when the deadline has passed and the work never settles', async () => {
    expect(await raceDeadline(never(), Date.now() - 1, 'late')).toBe('late');
  });

  it('passes on a rejection that comes before the deadline', async () => {
    await expect(raceDeadline(Promise.reject(new Error('refused')), Date.now() + DAY, 'late')).rejects.toThrow('refused');
  });

  it('waits for ever with no deadline', async () => {
    let finish!: (v: string) => void;
    const work = new Promise<string>((r) => (finish = r));
    const raced = raceDeadline(work, Infinity, 'late');
    setImmediate(() => finish('done'));
    expect(await raced).toBe('done');
  });

  it('settlesBy counts a failure as settled, and silence past the deadline as not', async () => {
    expect(await settlesBy(Promise.reject(new Error('x')), Date.now() + DAY)).toBe(true);
    expect(await settlesBy(Promise.resolve(), Date.now() + DAY)).toBe(true);
    expect(await settlesBy(never(), Date.now() - 1)).toBe(false);
  });

  it('does not give up at once on a deadline weeks away (longer than a timer can hold)', async () => {
    let gaveUp = false;
    void settlesBy(never(), Date.now() + 30 * DAY).then((v) => (gaveUp = !v));
    // An overflowing timer would fire after 1 ms, before this one.
    await new Promise((r) => setTimeout(r, 20));
    expect(gaveUp).toBe(false);
  });
});
