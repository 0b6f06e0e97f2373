/**
 * Summary of a V8 CPU profile (node --cpu-prof): the share of busy time
 * (everything but "(idle)") spent in garbage collection and in the
 * functions with the most self time.
 *
 *   npx tsx bench/profile-summary.ts <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export interface ProfileSummary {
  readonly busyMs: number;
  readonly gcShare: number;
  readonly top: readonly { readonly name: string; readonly share: number }[];
}

export function summarizeProfile(file: string, topN = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let busy = 0;
  let gc = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]!)!;
    const dt = p.timeDeltas[i] ?? 0;
    const f = n.callFrame;
    if (f.functionName === '(idle)') continue;
    busy += dt;
    if (f.functionName === '(garbage collector)') gc += dt;
    const name = `${f.functionName || '(anonymous)'} ${f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
    self.set(name, (self.get(name) ?? 0) + dt);
  }
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([name, t]) => ({ name, share: busy ? t / busy : 0 }));
  return { busyMs: busy / 1000, gcShare: busy ? gc / busy : 0, top };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, n] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]');
  const s = summarizeProfile(file, Number(n ?? 12));
  console.log(`${basename(file)}: busy ${s.busyMs.toFixed(0)} ms, garbage collection ${(s.gcShare * 100).toFixed(1)}%`);
  for (const t of s.top) console.log(`  ${(t.share * 100).toFixed(1).padStart(5)}%  ${t.name}`);
}
