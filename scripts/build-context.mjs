// The image's build context: what `gcloud builds submit` uploads (the
// infra/gcloudignore allowlist), and a digest of it, which names the image.
// Two checkouts with the same sources get the same tag, so a deploy of
// unchanged code finds the image built and changes no Cloud Run revision.
//
//   node scripts/build-context.mjs tag     # e.g. src-3f9a1c0b7d2e4a56
//   node scripts/build-context.mjs list    # the files, one a line
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The `!/path` lines of infra/gcloudignore: files and folders the upload carries. */
export function uploadedPaths(root = repoRoot) {
  return readFileSync(join(root, 'infra/gcloudignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('!/'))
    .map((l) => l.slice(2).replace(/\/$/, ''));
}

/** Every file of the context, relative to the root, in a fixed order. */
export function contextFiles(root = repoRoot) {
  const out = [];
  const walk = (abs) => {
    const st = statSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) for (const e of readdirSync(abs).sort()) walk(join(abs, e));
    else if (st.isFile()) out.push(relative(root, abs));
  };
  for (const p of uploadedPaths(root)) walk(join(root, p));
  return out.sort();
}

/** sha256 over each file's path and bytes; the file mode is left out (Docker COPY does not keep it here). */
export function contextTag(root = repoRoot) {
  const h = createHash('sha256');
  for (const f of contextFiles(root)) {
    const bytes = readFileSync(join(root, f));
    h.update(`${f}\0${bytes.length}\0`);
    h.update(bytes);
  }
  return `src-${h.digest('hex').slice(0, 16)}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2];
  if (cmd === 'tag') console.log(contextTag());
  else if (cmd === 'list') for (const f of contextFiles()) console.log(f);
  else {
    console.error('usage: node scripts/build-context.mjs tag|list');
    process.exit(2);
  }
}
