// @ts-check
// Formatting helpers for the dashboard: escaping, money, times, countdowns.

/** @type {Record<string, string>} */
const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Everything from the feed or the query API goes through this before it reaches innerHTML. */
export const esc = (/** @type {string | number | boolean | null | undefined} */ v) =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ESC[c] ?? c);

/** @type {Map<string, Intl.NumberFormat>} */
const moneyFormats = new Map();
/** @param {unknown} amount @param {string} [code] @param {boolean} [compact] whole pounds */
export function money(amount, code = 'GBP', compact = false) {
  if (typeof amount !== 'number' || !Number.isFinite(amount)) return '–';
  const key = code + compact;
  let f = moneyFormats.get(key);
  if (!f) {
    try {
      f = new Intl.NumberFormat('en-GB', {
        style: 'currency',
        currency: code,
        maximumFractionDigits: compact ? 0 : 2,
        minimumFractionDigits: compact ? 0 : 2,
      });
    } catch {
      f = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 2 });
    }
    moneyFormats.set(key, f);
  }
  return f.format(amount);
}

/** First Money of a list ({decimalAmount, currency{code}}), or the deprecated {value, currency} shape. */
/** @param {any} list @param {any} [single] @returns {{ amount: number, code: string } | null} */
export function firstMoney(list, single) {
  const m = Array.isArray(list) ? list[0] : undefined;
  if (m && typeof m.decimalAmount === 'number') return { amount: m.decimalAmount, code: m.currency?.code ?? 'GBP' };
  if (single && typeof single.value === 'number') {
    return { amount: single.value, code: typeof single.currency === 'string' ? single.currency : 'GBP' };
  }
  return null;
}

export const shortId = (/** @type {string | number | null | undefined} */ id) =>
  typeof id === 'string' && id.length > 10 ? id.slice(0, 8) + '…' : String(id ?? '?');

/** @type {Map<string, Intl.DateTimeFormat>} */
const timeFormats = new Map();
/** @param {string | undefined} iso @param {string} timeZone */
export function clock(iso, timeZone) {
  const t = Date.parse(iso ?? '');
  if (!Number.isFinite(t)) return '--:--';
  let f = timeFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    timeFormats.set(timeZone, f);
  }
  return f.format(t);
}

/** "4:05" or "1:02:03" for a number of milliseconds. */
/** @param {number} ms */
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** @param {number} ms */
export function ago(ms) {
  if (ms < 1500) return 'just now';
  if (ms < 90_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 5_400_000) return `${Math.round(ms / 60_000)} min ago`;
  return `${Math.round(ms / 3_600_000)} h ago`;
}

/** @param {unknown} n */
export function ordinal(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return String(n);
  const s = ['th', 'st', 'nd', 'rd'];
  const r = v % 100;
  return v + (s[(r - 20) % 10] || s[r] || 'th');
}

/** London wall-clock "HH:MM" now, for the racing window. */
/** @param {number} now @param {string} timeZone */
export function hhmm(now, timeZone) {
  return clock(new Date(now).toISOString(), timeZone);
}

/** Whether HH:MM `t` is inside [start, end) (windows may span midnight; start = end means all day). */
/** @param {string} t @param {string} start @param {string} end */
export function inWindow(t, start, end) {
  if (start === end) return true;
  return start < end ? t >= start && t < end : t >= start || t < end;
}
