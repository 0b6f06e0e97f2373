import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * scripts/ensure-deps.mjs on a throwaway project laid out like this one (a
 * root package with runtime, optional and test dependencies, and infra/ with
 * its own lockfile), using local file: packages so npm needs no network.
 */
const script = resolve('scripts/ensure-deps.mjs');
let dir = '';

function pkg(path: string, name: string, deps: Record<string, Record<string, string>> = {}) {
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, ...deps }, null, 2));
}

function run(...modes: string[]) {
  const r = spawnSync(process.execPath, [script, ...modes], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, npm_config_offline: 'true' },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const installed = (p: string) => existsSync(join(dir, p, 'package.json'));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ensure-deps-'));
  for (const name of ['service-lib', 'local-runner', 'test-tool', 'infra-tool']) pkg(join(dir, 'packages', name), name);
  pkg(dir, 'app', {
    dependencies: { 'service-lib': 'file:./packages/service-lib' },
    optionalDependencies: { 'local-runner': 'file:./packages/local-runner' },
    devDependencies: { 'test-tool': 'file:./packages/test-tool' },
  });
  pkg(join(dir, 'infra'), 'app-infra', { dependencies: { 'infra-tool': 'file:../packages/infra-tool' } });
  for (const d of [dir, join(dir, 'infra')]) {
    const r = spawnSync('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: d, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  }
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ensure-deps: what each command installs on a fresh clone', () => {
  it('npm start installs the runtime and optional packages only, and says what it is installing and how long it takes', () => {
    const r = run('runtime');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/installing the runtime dependencies \(about \d+ MB, [\d-]+ s\)/);
    expect(installed('node_modules/service-lib')).toBe(true);
    expect(installed('node_modules/local-runner')).toBe(true);
    expect(installed('node_modules/test-tool')).toBe(false);
    expect(installed('infra/node_modules/infra-tool')).toBe(false);
    // A second start installs nothing.
    expect(run('runtime').out).not.toContain('installing');
  });

  it('npm test adds the test tools and the infra package, and a later npm start keeps them', () => {
    const r = run('dev', 'infra');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('installing the runtime and test dependencies');
    expect(r.out).toContain('installing the infrastructure tools');
    expect(installed('node_modules/test-tool')).toBe(true);
    expect(installed('infra/node_modules/infra-tool')).toBe(true);
    expect(run('runtime').out).not.toContain('installing');
    expect(installed('node_modules/test-tool')).toBe(true);
  });

  it('reinstalls when the lockfile is newer than the install, keeping the test tools that were there', () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(dir, 'package-lock.json'), later, later);
    const r = run('runtime');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('package-lock.json changed');
    expect(installed('node_modules/test-tool')).toBe(true);
  });

  it('reinstalls the infra package when its node_modules is gone', () => {
    rmSync(join(dir, 'infra/node_modules'), { recursive: true, force: true });
    const r = run('infra');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('into infra/node_modules');
    expect(installed('infra/node_modules/infra-tool')).toBe(true);
  });

  it('refuses an unknown mode with the list of modes', () => {
    const r = run('everything');
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('expected runtime, dev, infra');
  });
});
