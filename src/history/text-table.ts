/** Longest cell shown; longer values (JSON payloads) are cut with an ellipsis. */
const MAX_CELL = 60;

function cell(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  const s =
    typeof v === 'string'
      ? v
      : typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean'
        ? String(v)
        : (JSON.stringify(v) ?? '');
  const one = s.replace(/\s+/g, ' ');
  return one.length > MAX_CELL ? one.slice(0, MAX_CELL - 1) + '…' : one;
}

/** A plain-text table for a terminal: header, rule, rows; numbers right-aligned. */
export function textTable(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const text = rows.map((r) => r.map(cell));
  const numeric = columns.map((_, i) => rows.length > 0 && rows.every((r) => r[i] === null || typeof r[i] === 'number'));
  const width = columns.map((c, i) => Math.max(c.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(width[i]!) : c.padEnd(width[i]!)))
      .join(' | ')
      .trimEnd();
  return [line(columns), width.map((w) => '-'.repeat(w)).join('-+-'), ...text.map(line)].join('\n');
}
