import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The README's configuration table must name every variable the config module reads. */
describe('README', () => {
  it('documents every environment variable the configuration reads', () => {
    const readme = readFileSync('README.md', 'utf8');
    const table = /<!-- section:configuration -->([\s\S]*?)<!-- \/section:configuration -->/.exec(readme)?.[1] ?? '';
    const names = new Set<string>();
    for (const f of readdirSync('src/config')) {
      const src = readFileSync(`src/config/${f}`, 'utf8');
      for (const m of src.matchAll(/r\.\w+(?:<[^>]*>)?\('([A-Z][A-Z0-9_]+)'/g)) names.add(m[1]!);
    }
    expect(names.size).toBeGreaterThan(40);
    // Grouped rows write a shared prefix once: `PUBSUB_BATCH_MAX_MESSAGES` / `_BYTES`.
    const documented = (n: string) => table.includes('`' + n + '`') || [...table.matchAll(/`([A-Z][A-Z0-9_]+)`((?: \/ `_[A-Z0-9_]+`)+)/g)].some((m) => {
      const base = m[1]!;
      return m[2]!.split(' / ').map((s) => s.replace(/`/g, '')).filter(Boolean).some((suffix) => {
        const parts = base.split('_');
        for (let i = parts.length - 1; i > 0; i--) if (parts.slice(0, i).join('_') + suffix === n) return true;
        return false;
      });
    });
    const missing = [...names].filter((n) => !documented(n) && !['K_REVISION'].includes(n));
    expect(missing).toEqual([]);
  });
});
