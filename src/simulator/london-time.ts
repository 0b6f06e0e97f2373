/**
 * UK racing times are London wall-clock times ("BATH 13:40"); the simulator
 * keeps its clock in epoch milliseconds. These convert between the two
 * without a date library, using the runtime's time-zone data.
 */
const ZONE = 'Europe/London';
const MINUTE = 60_000;
export const DAY_MS = 86_400_000;

const parts = new Intl.DateTimeFormat('en-GB', {
  timeZone: ZONE,
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
});

interface LondonParts {
  date: string;
  hour: number;
  minute: number;
}

export function londonParts(ms: number): LondonParts {
  const p: Record<string, string> = {};
  for (const { type, value } of parts.formatToParts(new Date(ms))) p[type] = value;
  return { date: `${p.year}-${p.month}-${p.day}`, hour: Number(p.hour), minute: Number(p.minute) };
}

/** YYYY-MM-DD of the London calendar day containing `ms`. */
export function londonDate(ms: number): string {
  return londonParts(ms).date;
}

/** "13:40" for the London wall time at `ms`. */
export function londonHHMM(ms: number): string {
  const { hour, minute } = londonParts(ms);
  return `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isIsoDate(text: string): boolean {
  const m = DATE.exec(text);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === text;
}

/** Epoch ms of London wall time `minutes` after midnight on `date` (YYYY-MM-DD). */
export function londonTime(date: string, minutes: number): number {
  const m = DATE.exec(date);
  if (!m) throw new RangeError(`not a YYYY-MM-DD date: ${date}`);
  const guess = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) + minutes * MINUTE;
  // London is UTC or UTC+1; the offset seen at the guess is right away from the
  // 01:00-02:00 changeover, which racing never touches.
  const seen = londonParts(guess);
  const seenMinutes = seen.hour * 60 + seen.minute;
  const dayShift = seen.date === date ? 0 : seen.date > date ? 1440 : -1440;
  const offset = seenMinutes + dayShift - minutes;
  return guess - offset * MINUTE;
}

/** The date `days` after `date`. */
export function addDays(date: string, days: number): string {
  const t = Date.parse(date + 'T12:00:00Z') + days * DAY_MS;
  return new Date(t).toISOString().slice(0, 10);
}

/** Whole days from `from` to `to` (both YYYY-MM-DD). */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(to + 'T12:00:00Z') - Date.parse(from + 'T12:00:00Z')) / DAY_MS);
}

/** Parses "HH:MM" into minutes after midnight, or undefined. */
export function parseHHMM(text: string): number | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 23 || min > 59) return undefined;
  return h * 60 + min;
}
