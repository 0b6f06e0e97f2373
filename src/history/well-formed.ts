/**
 * Lone UTF-16 surrogates: JavaScript strings may hold them, Unicode text may
 * not. DuckDB refuses a JSON value whose string escapes one (`"\ud800"`) and
 * silently turns a bound text value's into U+FFFD; BigQuery takes only
 * valid UTF-8. So before a row reaches a store, every lone surrogate becomes
 * U+FFFD (in JSON text: the escape `\ufffd`), the same way every time, and
 * the values as they were are kept beside the row (see `original_text`).
 */

declare global {
  // In Node since 20 (V8 11.1); declared in TypeScript's ES2024 lib, which this project does not target yet.
  interface String {
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

const REPLACEMENT_ESCAPE = '\\ufffd';

function hexAt(text: string, i: number): number {
  // i points at the backslash of a `\uXXXX` escape.
  return text[i + 1] === 'u' ? Number.parseInt(text.slice(i + 2, i + 6), 16) : Number.NaN;
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/**
 * JSON text with each escape of a lone surrogate replaced by `\ufffd`, and
 * raw lone surrogates by U+FFFD; the text itself when it has none (the usual
 * case costs one indexOf per backslash). Escaped pairs are kept. Escapes
 * only occur inside strings, so walking escape by escape from the left reads
 * `\\ud800` (a backslash, then the letters) correctly.
 */
export function wellFormedJsonText(text: string): string {
  let out: string | null = null;
  let copied = 0;
  let i = text.indexOf('\\');
  while (i !== -1) {
    const c = hexAt(text, i);
    let next = i + 2;
    if (!Number.isNaN(c)) {
      next = i + 6;
      if (isHigh(c) && text[next] === '\\' && isLow(hexAt(text, next))) next += 6;
      else if (isHigh(c) || isLow(c)) {
        out = (out ?? '') + text.slice(copied, i) + REPLACEMENT_ESCAPE;
        copied = next;
      }
    }
    i = text.indexOf('\\', next);
  }
  const escaped = out === null ? text : out + text.slice(copied);
  return escaped.isWellFormed() ? escaped : escaped.toWellFormed();
}

/** The value as it may be stored: plain text made well-formed; JSON text with its lone-surrogate escapes replaced. */
export function storableText(value: string, json: boolean): string {
  if (json) return wellFormedJsonText(value);
  return value.isWellFormed() ? value : value.toWellFormed();
}
