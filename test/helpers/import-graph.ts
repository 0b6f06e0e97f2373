import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** One import of one module by another, as repository-relative paths with forward slashes. */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'node_modules' && name !== 'public' && !name.startsWith('.')) out.push(...tsFiles(path));
    } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
      out.push(path);
    }
  }
  return out;
}

/** `./x.js` names `./x.ts` under NodeNext resolution; anything else is kept as written. */
function sourceOf(spec: string, fromFile: string): string {
  const target = resolve(dirname(fromFile), spec);
  const source = target.replace(/\.js$/, '.ts');
  return existsSync(source) ? source : target;
}

/**
 * Every relative import (static, `export … from`, type-only and dynamic
 * `import()`) of the TypeScript modules under `dirs`, read with the
 * TypeScript compiler's own pre-processor rather than a pattern, so a
 * multi-line or type-only import is not missed. Package imports are left out.
 */
export function readImportGraph(root: string, dirs: readonly string[]): ImportEdge[] {
  const rel = (p: string) => relative(root, p).split(sep).join('/');
  const edges: ImportEdge[] = [];
  for (const dir of dirs) {
    for (const file of tsFiles(join(root, dir))) {
      const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      for (const imported of info.importedFiles) {
        if (!imported.fileName.startsWith('.')) continue;
        edges.push({ from: rel(file), to: rel(sourceOf(imported.fileName, file)) });
      }
    }
  }
  return edges;
}

/** Module cycles (strongly connected components of more than one module, or a module importing itself). */
export function importCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, []);
    if (!next.has(e.to)) next.set(e.to, []);
    next.get(e.from)!.push(e.to);
  }
  // Tarjan's algorithm, iterative so a deep graph cannot overflow the stack.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  for (const start of next.keys()) {
    if (index.has(start)) continue;
    const work: Array<{ node: string; i: number }> = [{ node: start, i: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length) {
      const top = work[work.length - 1]!;
      const children = next.get(top.node)!;
      if (top.i < children.length) {
        const child = children[top.i++]!;
        if (!index.has(child)) {
          index.set(child, counter);
          low.set(child, counter++);
          stack.push(child);
          onStack.add(child);
          work.push({ node: child, i: 0 });
        } else if (onStack.has(child)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(child)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== top.node);
        if (component.length > 1 || children.includes(top.node)) cycles.push(component.sort());
      }
    }
  }
  return cycles;
}

export interface DependencyRule {
  /** Folders of src/ that are deployable parts, each reached from outside only through its index.ts. */
  readonly deployables: readonly string[];
  /** Deployables that run another inside their own process, and so may import its index.ts. */
  readonly runsInside: Readonly<Record<string, readonly string[]>>;
  /** Modules that start several deployables in one process (each through its index.ts). */
  readonly compositionRoots: readonly string[];
}

type Place =
  { kind: 'deployable'; name: string; entry: 'index' | 'main' | 'internal' } | { kind: 'root' } | { kind: 'other'; name: string };

function placeOf(path: string, rule: DependencyRule): Place {
  if (rule.compositionRoots.includes(path)) return { kind: 'root' };
  const m = /^src\/([^/]+)\/(.+)$/.exec(path);
  if (m && rule.deployables.includes(m[1]!)) {
    const entry = m[2] === 'index.ts' ? 'index' : m[2] === 'main.ts' ? 'main' : 'internal';
    return { kind: 'deployable', name: m[1]!, entry };
  }
  return { kind: 'other', name: m ? `src/${m[1]}` : path.split('/')[0]! };
}

/**
 * Imports that break the rule, each as one line naming both modules and why:
 * - an entry point (main.ts) runs its service when imported, so nothing imports one;
 * - a deployable reaches another only through its index.ts, and only one it runs inside itself;
 * - a composition root may start any deployable, through its index.ts;
 * - everything else (the shared pieces, the infrastructure) imports no deployable at all.
 */
export function dependencyViolations(edges: readonly ImportEdge[], rule: DependencyRule): string[] {
  const out: string[] = [];
  for (const { from, to } of edges) {
    const src = placeOf(from, rule);
    const dst = placeOf(to, rule);
    if (dst.kind === 'root' || (dst.kind === 'deployable' && dst.entry === 'main')) {
      out.push(`${from} imports ${to}: an entry point starts its service when imported`);
      continue;
    }
    if (dst.kind !== 'deployable') continue;
    if (src.kind === 'deployable' && src.name === dst.name) continue;
    if (src.kind === 'deployable' && !(rule.runsInside[src.name] ?? []).includes(dst.name)) {
      out.push(`${from} imports ${to}: ${src.name} does not run ${dst.name}; move what both need into a shared piece`);
    } else if (src.kind === 'other') {
      out.push(`${from} imports ${to}: only a composition root, or a deployable that runs ${dst.name}, may import it`);
    } else if (dst.entry !== 'index') {
      out.push(`${from} imports ${to}: an internal of ${dst.name}; import src/${dst.name}/index.ts instead`);
    }
  }
  return out;
}
