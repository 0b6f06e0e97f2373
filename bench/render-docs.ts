/**
 * Writes the results section of docs/benchmarks.md from one or more result
 * files of `npm run bench` (sections run separately, e.g. to keep a long SSE
 * run apart from the rest). Later files add to earlier ones: SSE fan-out
 * sizes are appended in order of client count, ingest paths and the publish
 * comparison are combined, other sections replace.
 *
 *   npx tsx bench/render-docs.ts results-a.json results-b.json …
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderResults } from './report.js';
import type { IngestReport } from './pipeline.js';
import type { SseReport } from './sse.js';

export function mergeResults(files: readonly Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const starts: number[][] = [];
  const ends: number[][] = [];
  for (const r of files) {
    const m = r.machine as Record<string, unknown>;
    starts.push(m.loadAverageAtStart as number[]);
    ends.push(m.loadAverageAtEnd as number[]);
    if (!out.machine) out.machine = { ...m };
    (out.machine as Record<string, unknown>).finishedAt = m.finishedAt;
    for (const [k, v] of Object.entries(r)) {
      if (k === 'machine' || v === undefined) continue;
      if (k === 'sse' && out.sse) {
        const a = out.sse as SseReport;
        const b = v as SseReport;
        out.sse = {
          payloadBytes: b.payloadBytes || a.payloadBytes,
          fanout: [...a.fanout.filter((f) => !b.fanout.some((g) => g.clients === f.clients)), ...b.fanout].sort(
            (x, y) => x.clients - y.clients,
          ),
          stalled: b.stalled ?? a.stalled,
          saturation: b.saturation ?? a.saturation,
        } satisfies SseReport;
      } else if (k === 'ingest' && out.ingest) {
        // A publish-only run adds its comparison to the frame paths of an earlier one.
        const a = out.ingest as IngestReport;
        const b = v as IngestReport;
        out.ingest = { ...a, ...b, medians: { ...a.medians, ...b.medians }, publish: b.publish ?? a.publish } satisfies IngestReport;
      } else out[k] = v;
    }
  }
  const m = out.machine as Record<string, unknown>;
  // The range over the runs: each table row also carries the load of its own run.
  m.loadAverageAtStart = starts[0];
  m.loadAverageAtEnd = ends.at(-1);
  return out;
}

export function writeDocsSection(docs: string, markdown: string, name = 'results'): void {
  const text = readFileSync(docs, 'utf8');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${docs} has no ${start} … ${end} section to write into`);
  writeFileSync(docs, text.slice(0, a + start.length) + '\n' + markdown + '\n' + text.slice(b));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = process.argv.slice(2);
  if (files.length === 0) throw new Error('usage: render-docs.ts <results.json> …');
  const merged = mergeResults(files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>));
  const docs = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
  writeDocsSection(docs, renderResults(merged));
  writeFileSync(fileURLToPath(new URL('./results.json', import.meta.url)), JSON.stringify(merged, null, 2) + '\n');
  console.log(`Results from ${files.length} file(s) written to ${docs} and bench/results.json`);
}
