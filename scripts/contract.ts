/**
 * Writes the published contract: JSON Schemas generated from src/sse/contract/types.ts, the AsyncAPI
 * document built from the catalog, into src/sse/public/contract/ (served by the SSE service) and the
 * page docs/contract.md.
 *
 *   npm run contract            write the files
 *   npm run contract -- --check exit 1, naming the files, when the committed ones differ
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createGenerator } from 'ts-json-schema-generator';
import { buildContract, contractPage, CONTRACT_TYPES, type ContractType, type JsonSchema } from '../src/sse/contract/document.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CONTRACT_DIR = 'src/sse/public/contract';
export const CONTRACT_PAGE = 'docs/contract.md';

export interface GeneratedFile {
  /** From the repository root. */
  readonly path: string;
  readonly text: string;
}

/** Every file the contract consists of, as the code and the catalog say it should be. */
export function generateContract(): GeneratedFile[] {
  const generator = createGenerator({
    path: join(ROOT, 'src/sse/contract/types.ts'),
    tsconfig: join(ROOT, 'tsconfig.json'),
    type: '*',
    expose: 'export',
    topRef: true,
    jsDoc: 'extended',
    // Open objects: a field added later must not make today's consumers reject a message.
    additionalProperties: true,
    // tsc checks the same files in `npm test`; checking twice only costs time.
    skipTypeCheck: true,
  });
  const schemas = Object.fromEntries(CONTRACT_TYPES.map((t) => [t, generator.createSchema(t) as JsonSchema])) as Record<
    ContractType,
    JsonSchema
  >;
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const files = buildContract({ schemas, version });
  const linkBase = relative(dirname(CONTRACT_PAGE), CONTRACT_DIR);
  return [
    ...files.map((f) => ({ path: `${CONTRACT_DIR}/${f.path}`, text: f.text })),
    { path: CONTRACT_PAGE, text: contractPage(files, linkBase) },
  ];
}

function committed(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(join(ROOT, dir))) {
      const p = `${dir}/${name}`;
      if (statSync(join(ROOT, p)).isDirectory()) walk(p);
      else out.set(p, readFileSync(join(ROOT, p), 'utf8'));
    }
  };
  try {
    walk(CONTRACT_DIR);
  } catch {
    /* not written yet */
  }
  try {
    out.set(CONTRACT_PAGE, readFileSync(join(ROOT, CONTRACT_PAGE), 'utf8'));
  } catch {
    /* not written yet */
  }
  return out;
}

/** Paths whose committed text differs from the generated one, or that should not be there. */
export function contractDrift(): string[] {
  const want = generateContract();
  const have = committed();
  const drift = want.filter((f) => have.get(f.path) !== f.text).map((f) => f.path);
  const wanted = new Set(want.map((f) => f.path));
  for (const p of have.keys()) if (!wanted.has(p)) drift.push(`${p} (no longer generated)`);
  return drift;
}

function main(): void {
  if (process.argv.includes('--check')) {
    const drift = contractDrift();
    if (drift.length) {
      console.error(`The contract differs from the code in:\n  ${drift.join('\n  ')}\nRun \`npm run contract\` and review the diff.`);
      process.exit(1);
    }
    console.log('The contract matches the code.');
    return;
  }
  rmSync(join(ROOT, CONTRACT_DIR), { recursive: true, force: true });
  const files = generateContract();
  for (const f of files) {
    mkdirSync(dirname(join(ROOT, f.path)), { recursive: true });
    writeFileSync(join(ROOT, f.path), f.text);
  }
  console.log(`Wrote ${files.length} files: ${CONTRACT_DIR}/ and ${CONTRACT_PAGE}.`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
