// Installs what a command needs from the lockfiles, so `npm start`, `npm test`
// and the deploy scripts work on a fresh clone with nothing but Node and npm.
//
//   node scripts/ensure-deps.mjs runtime   # npm start: the services (+ tsx, DuckDB), no test or infra tools
//   node scripts/ensure-deps.mjs dev       # npm test, bench: also the test tools (vitest, typescript, Chromium driver)
//   node scripts/ensure-deps.mjs infra     # synth, deploy: CDKTF, in infra/ with its own lockfile
//
// Modes combine (`dev infra`). A mode is satisfied when every package it needs
// is in node_modules and the lockfile is not newer than the last install; a
// fuller install is never replaced by a smaller one.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// Measured on a clean clone with a warm npm cache (a cold cache adds the download).
const ROOT = '.';
const INFRA = 'infra';
const PLANS = {
  runtime: { dir: ROOT, omitDev: true, what: 'the runtime dependencies (about 160 MB, 10-20 s)' },
  dev: { dir: ROOT, omitDev: false, what: 'the runtime and test dependencies (about 330 MB, 20-60 s)' },
  infra: { dir: INFRA, omitDev: false, what: 'the infrastructure tools, CDKTF (about 730 MB, 20-60 s), into infra/node_modules' },
};

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** Why `dir` needs an install for this plan, or null when it has what the plan needs. */
function staleReason(dir, omitDev) {
  const lock = join(dir, 'package-lock.json');
  const marker = join(dir, 'node_modules', '.package-lock.json');
  if (!existsSync(marker)) return 'not installed yet';
  if (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs) return 'package-lock.json changed';
  const pkg = readJson(join(dir, 'package.json'));
  const wanted = [
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.optionalDependencies ?? {}),
    ...(omitDev ? [] : Object.keys(pkg.devDependencies ?? {})),
  ];
  const missing = wanted.filter((name) => !existsSync(join(dir, 'node_modules', name, 'package.json')));
  return missing.length ? `missing ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}` : null;
}

function install(dir, omitDev, what, reason) {
  console.log(`[setup] installing ${what} from ${join(dir, 'package-lock.json')} (${reason})...`);
  const args = ['ci', '--no-audit', '--no-fund', ...(omitDev ? ['--omit=dev'] : ['--include=dev'])];
  const started = Date.now();
  const r = spawnSync('npm', args, { cwd: dir, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) {
    console.error(`[setup] npm ${args.join(' ')} in ${dir} failed; see the output above.`);
    process.exit(r.status ?? 1);
  }
  console.log(`[setup] done in ${Math.round((Date.now() - started) / 1000)} s`);
}

const modes = process.argv.slice(2);
if (!modes.length) modes.push('dev');
for (const mode of modes) {
  if (!(mode in PLANS)) {
    console.error(`[setup] unknown mode "${mode}"; expected ${Object.keys(PLANS).join(', ')}`);
    process.exit(2);
  }
}
// The root is installed once, with the test tools when a mode asks for them or they are there already
// (a fuller install is never replaced by a smaller one).
const devThere = () => {
  const pkg = readJson('package.json');
  return Object.keys(pkg.devDependencies ?? {}).every((name) => existsSync(join('node_modules', name, 'package.json')));
};
const withDev = modes.includes('dev');
const rootReason = staleReason(ROOT, !withDev);
if (rootReason) {
  const plan = withDev || devThere() ? PLANS.dev : PLANS.runtime;
  install(ROOT, plan.omitDev, plan.what, rootReason);
}
if (modes.includes('infra')) {
  const reason = staleReason(INFRA, false);
  if (reason) install(INFRA, false, PLANS.infra.what, reason);
}
