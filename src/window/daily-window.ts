/**
 * The daily window in which the subscriber holds the Tote connection
 * (06:00–23:00 Europe/London by default). Computed from wall-clock time in the
 * window's zone, so BST/GMT changes need nothing special.
 */
export interface DailyWindow {
  readonly start: string; // HH:MM
  readonly end: string; // HH:MM
  readonly timeZone: string;
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

export function localMinutes(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const h = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const m = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return h * 60 + m;
}

/** True inside [start, end). A window whose end is before its start spans midnight. */
export function inWindow(at: Date, w: DailyWindow): boolean {
  const now = localMinutes(at, w.timeZone);
  const s = minutes(w.start);
  const e = minutes(w.end);
  if (s === e) return true;
  return s < e ? now >= s && now < e : now >= s || now < e;
}
