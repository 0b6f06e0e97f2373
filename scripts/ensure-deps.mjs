// Installs dependencies from the lockfile when node_modules is missing or
// older than package-lock.json, so `npm start` and `npm test` work on a fresh
// clone with nothing but Node and npm.
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const lock = 'package-lock.json';
const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  console.log('[setup] installing dependencies from package-lock.json (npm ci)...');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) {
    console.error('[setup] npm ci failed; see the output above.');
    process.exit(r.status ?? 1);
  }
}
