import { readFileSync, readdirSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dependencyViolations, importCycles, readImportGraph, type DependencyRule, type ImportEdge } from './helpers/import-graph.js';

/**
 * The layout docs/architecture.md draws. The deployables are the parts that
 * run as services (or inside one); everything else under src/ is a shared
 * piece that any of them may use.
 */
const RULE: DependencyRule = {
  deployables: ['subscriber', 'sse', 'consumer', 'simulator'],
  // The SSE service reads the bus through the Pub/Sub consumer, in its own process.
  runsInside: { sse: ['consumer'] },
  // `npm start`: simulator, subscriber, bus, SSE service and history in one process.
  compositionRoots: ['src/main.ts'],
};

const edges = readImportGraph(process.cwd(), ['src', 'infra']);

describe('module dependencies', () => {
  it('reads every kind of import the code uses', () => {
    const has = (from: string, to: string) => edges.some((e) => e.from === from && e.to === to);
    expect(edges.length).toBeGreaterThan(300);
    expect(has('src/sse/main.ts', 'src/consumer/index.ts')).toBe(true); // value import
    expect(has('src/consumer/index.ts', 'src/consumer/pubsub-consumer.ts')).toBe(true); // export … from
    expect(has('src/bus/types.ts', 'src/day-card/day-card.ts')).toBe(true); // import type
    expect(has('infra/window.ts', 'src/window/daily-window.ts')).toBe(true); // from outside src/
  });

  it('no deployable imports another deployable’s internals, and no shared piece or infrastructure imports a deployable', () => {
    expect(dependencyViolations(edges, RULE)).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(importCycles(edges)).toEqual([]);
  });

  it('names the breach when a deployable reaches into another, a shared piece into a deployable, or anything imports an entry point', () => {
    const breaches: ImportEdge[] = [
      { from: 'src/sse/main.ts', to: 'src/subscriber/shutdown.ts' },
      { from: 'src/consumer/seek-target.ts', to: 'src/subscriber/index.ts' },
      { from: 'src/sse/index.ts', to: 'src/consumer/pubsub-consumer.ts' },
      { from: 'src/bus/types.ts', to: 'src/consumer/index.ts' },
      { from: 'infra/window.ts', to: 'src/subscriber/index.ts' },
      { from: 'src/main.ts', to: 'src/subscriber/service.ts' },
      { from: 'src/main.ts', to: 'src/sse/main.ts' },
    ];
    const allowed: ImportEdge[] = [
      { from: 'src/sse/main.ts', to: 'src/consumer/index.ts' },
      { from: 'src/main.ts', to: 'src/subscriber/index.ts' },
      { from: 'src/subscriber/service.ts', to: 'src/subscriber/ingest.ts' },
      { from: 'src/subscriber/service.ts', to: 'src/bus/types.ts' },
    ];
    const found = dependencyViolations([...breaches, ...allowed], RULE);
    expect(found).toHaveLength(breaches.length);
    breaches.forEach((b, i) => expect(found[i]).toContain(`${b.from} imports ${b.to}`));
    expect(found[0]).toContain('move what both need into a shared piece');
    expect(found[2]).toContain('import src/consumer/index.ts instead');
    expect(found[6]).toContain('an entry point');
  });

  it('finds a cycle through several modules', () => {
    const cycle = importCycles([
      { from: 'src/a.ts', to: 'src/b.ts' },
      { from: 'src/b.ts', to: 'src/c.ts' },
      { from: 'src/c.ts', to: 'src/a.ts' },
      { from: 'src/c.ts', to: 'src/d.ts' },
    ]);
    expect(cycle).toEqual([['src/a.ts', 'src/b.ts', 'src/c.ts']]);
  });
});

describe('docs/architecture.md', () => {
  const doc = readFileSync('docs/architecture.md', 'utf8');

  it('draws every folder of src/ and the rule the test enforces', () => {
    const folders = readdirSync('src').filter((f) => statSync(`src/${f}`).isDirectory());
    const missing = folders.filter((f) => !doc.includes(`src/${f}/`));
    expect(missing, 'add each new folder of src/ to docs/architecture.md (picture and table)').toEqual([]);
    for (const d of RULE.deployables) expect(doc).toContain(`src/${d}/index.ts`);
    for (const [host, guests] of Object.entries(RULE.runsInside)) {
      for (const g of guests) expect(doc).toContain(`${host} --> ${g}`);
    }
  });
});
