import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Every Markdown file a reader can reach from the README: the README itself and the docs/ tree. */
function markdownFiles(): string[] {
  const out = ['README.md'];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.md')) out.push(p);
    }
  };
  if (existsSync('docs')) walk('docs');
  return out;
}

/** Heading anchors as GitHub renders them: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Links outside code spans and fences: [text](target). */
function links(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) out.push(m[1]!);
  }
  return out;
}

describe('documentation', () => {
  it('documents every environment variable the configuration reads', () => {
    const reference = readFileSync('docs/configuration.md', 'utf8');
    const table = /<!-- section:configuration -->([\s\S]*?)<!-- \/section:configuration -->/.exec(reference)?.[1] ?? '';
    const names = new Set<string>();
    for (const f of readdirSync('src/config')) {
      const src = readFileSync(`src/config/${f}`, 'utf8');
      for (const m of src.matchAll(/r\.\w+(?:<[^>]*>)?\('([A-Z][A-Z0-9_]+)'/g)) names.add(m[1]!);
    }
    expect(names.size).toBeGreaterThan(40);
    // Grouped rows write a shared prefix once: `PUBSUB_BATCH_MAX_MESSAGES` / `_BYTES`.
    const documented = (n: string) =>
      table.includes('`' + n + '`') ||
      [...table.matchAll(/`([A-Z][A-Z0-9_]+)`((?: \/ `_[A-Z0-9_]+`)+)/g)].some((m) => {
        const base = m[1]!;
        return m[2]!
          .split(' / ')
          .map((s) => s.replace(/`/g, ''))
          .filter(Boolean)
          .some((suffix) => {
            const parts = base.split('_');
            for (let i = parts.length - 1; i > 0; i--) if (parts.slice(0, i).join('_') + suffix === n) return true;
            return false;
          });
      });
    const missing = [...names].filter((n) => !documented(n) && !['K_REVISION'].includes(n));
    expect(missing).toEqual([]);
  });

  it('every relative link in the README and docs/ reaches a file, and every #anchor a heading there', () => {
    const broken: string[] = [];
    const files = markdownFiles();
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      for (const target of links(readFileSync(file, 'utf8'))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …: not ours to check offline
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const resolved = path === '' ? file : join(dirname(file), decodeURIComponent(path));
        if (!existsSync(resolved)) {
          broken.push(`${file}: ${target} (no ${relative('.', resolved)})`);
          continue;
        }
        if (anchor !== undefined && resolved.endsWith('.md') && !anchors(readFileSync(resolved, 'utf8')).has(anchor)) {
          broken.push(`${file}: ${target} (no heading #${anchor} in ${relative('.', resolved)})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('the README stays a short map (under 200 lines) from which every page of docs/ can be reached', () => {
    expect(readFileSync('README.md', 'utf8').split('\n').length).toBeLessThan(200);
    const reached = new Set<string>(['README.md']);
    const queue = ['README.md'];
    while (queue.length > 0) {
      const file = queue.shift()!;
      for (const target of links(readFileSync(file, 'utf8'))) {
        const path = target.split('#')[0]!;
        if (!path.endsWith('.md') || /^[a-z][a-z0-9+.-]*:/i.test(path)) continue;
        const next = relative('.', join(dirname(file), decodeURIComponent(path)));
        if (!reached.has(next) && existsSync(next)) {
          reached.add(next);
          queue.push(next);
        }
      }
    }
    expect(markdownFiles().filter((f) => !reached.has(f))).toEqual([]);
  });
});
