/**
 * Structured JSON lines in the shape Cloud Logging reads from stdout:
 * `severity`, `message`, `time`, plus fields. Every registered secret is
 * replaced by "[redacted]" wherever it appears, so a key that slips into an
 * error message never reaches the log.
 */
export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR' | 'CRITICAL';

const RANK: Record<Severity, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARNING: 3, ERROR: 4, CRITICAL: 5 };
const secrets = new Set<string>();

/** Secrets shorter than this are not registered: redacting "a" would mangle every line. */
const MIN_SECRET_LENGTH = 6;

export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= MIN_SECRET_LENGTH) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
  return out;
}

export function containsSecret(text: string): boolean {
  for (const s of secrets) if (text.includes(s)) return true;
  return false;
}

/**
 * A copy of a parsed JSON value with every registered secret redacted in its
 * strings and keys. Iterative, so a frame nested thousands of levels deep
 * cannot overflow the stack; callers use it only when containsSecret() said so.
 */
export function redactValue<T>(value: T): T {
  const root: { v: unknown } = { v: value };
  const work: { from: unknown; to: Record<string, unknown> | unknown[]; key: string | number }[] = [{ from: value, to: root, key: 'v' }];
  while (work.length) {
    const { from, to, key } = work.pop()!;
    let out: unknown;
    if (typeof from === 'string') out = redact(from);
    else if (Array.isArray(from)) {
      const arr: unknown[] = new Array(from.length);
      from.forEach((item, i) => work.push({ from: item, to: arr, key: i }));
      out = arr;
    } else if (from !== null && typeof from === 'object') {
      const obj: Record<string, unknown> = Object.create(Object.getPrototypeOf(from) === null ? null : Object.prototype);
      for (const [k, item] of Object.entries(from)) work.push({ from: item, to: obj, key: redact(k) });
      out = obj;
    } else out = from;
    if (Array.isArray(to)) to[key as number] = out;
    else Object.defineProperty(to, key, { value: out, enumerable: true, writable: true, configurable: true });
  }
  return root.v as T;
}

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  notice(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /**
   * A line of figures for the cloud's log-based metrics: written whatever
   * LOG_LEVEL says (the metrics count them), with severity DEBUG so that the
   * operator's default view (INFO and above) stays readable.
   */
  figures(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LogWriter = (line: string) => void;

let writer: LogWriter = (line) => process.stdout.write(line + '\n');
/** Set from the configuration (LOG_LEVEL) by each entry point at start. */
let minSeverity: Severity = 'INFO';

/** Tests capture lines here; the process default is stdout. */
export function setLogWriter(w: LogWriter): void {
  writer = w;
}
export function setLogLevel(s: Severity): void {
  minSeverity = s;
}

function errorFields(v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message, stack: v.stack };
  return v;
}

export function createLogger(base: Record<string, unknown> = {}): Logger {
  const emit = (severity: Severity, message: string, fields?: Record<string, unknown>, always = false) => {
    if (!always && RANK[severity] < RANK[minSeverity]) return;
    const entry: Record<string, unknown> = { severity, message, time: new Date().toISOString(), ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) entry[k] = errorFields(v);
    let line: string;
    try {
      line = JSON.stringify(entry);
    } catch {
      line = JSON.stringify({ severity, message, time: entry.time, note: 'fields not serialisable' });
    }
    writer(redact(line));
  };
  return {
    debug: (m, f) => emit('DEBUG', m, f),
    info: (m, f) => emit('INFO', m, f),
    notice: (m, f) => emit('NOTICE', m, f),
    warn: (m, f) => emit('WARNING', m, f),
    error: (m, f) => emit('ERROR', m, f),
    figures: (m, f) => emit('DEBUG', m, f, true),
    child: (f) => createLogger({ ...base, ...f }),
  };
}

export const log = createLogger();
