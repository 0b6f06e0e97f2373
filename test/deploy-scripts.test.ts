import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextFiles, contextTag } from '../scripts/build-context.mjs';

/**
 * The deploy scripts off Google Cloud: their own bash functions run for real,
 * with real curl against a local server; where a script talks to Google it
 * meets a stand-in `gcloud` on PATH that keeps Secret Manager versions in a
 * folder and logs every command line it is given.
 */
const repo = resolve('.');
let work = '';
let fakeBin = '';
let state = '';

/** A curl that logs its own command line, then is the real curl. */
const LOGGING_CURL = `#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$FAKE_STATE/argv.log"
exec ${spawnSync('bash', ['-c', 'command -v curl'], { encoding: 'utf8' }).stdout.trim()} "$@"
`;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'deploy-scripts-'));
  fakeBin = join(work, 'bin');
  state = join(work, 'state');
  mkdirSync(fakeBin);
  mkdirSync(state);
  cpSync('test/helpers/fake-gcloud.sh', join(fakeBin, 'gcloud'));
  writeFileSync(join(fakeBin, 'curl'), LOGGING_CURL);
  chmodSync(join(fakeBin, 'gcloud'), 0o755);
  chmodSync(join(fakeBin, 'curl'), 0o755);
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const TOKEN = 'ya29.token-that-must-stay-off-argv';
const env = (extra: Record<string, string> = {}) => ({
  PATH: `${fakeBin}:${process.env.PATH}`,
  HOME: process.env.HOME ?? work,
  FAKE_STATE: state,
  FAKE_TOKEN: TOKEN,
  DEPLOY_PROJECT: 'tote-test-project',
  DEPLOY_ENV: 'dev',
  CHECKPOINT_DISABLE: '1',
  ...extra,
});
const argvLog = () => readFileSync(join(state, 'argv.log'), 'utf8');

/** Runs bash with scripts/deploy-env.sh sourced, then `body`; asynchronous, so a server in this process can answer. */
function withDeployEnv(body: string, extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('bash', ['--norc', '--noprofile', '-c', `source scripts/deploy-env.sh\n${body}`], { cwd: repo, env: env(extra) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('deploy scripts: tokens stay off command lines', () => {
  let server: Server;
  let port = 0;
  const seen: { method: string; headers: IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen.push({ method: req.method!, headers: req.headers, body });
        res.setHeader('Content-Type', 'application/json');
        res.end(req.method === 'GET' ? '{"scaling":{"manualInstanceCount":1}}' : '{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("reads and sets the instance count with the OAuth token in the request, not in curl's argv", async () => {
    const r = await withDeployEnv(`subscriber_api() { echo "http://127.0.0.1:${port}/v2/services/tote-subscriber"; }
      echo "count=$(instance_count)"
      set_instance_count 0 && echo set-ok`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('count=1');
    expect(r.stdout).toContain('set-ok');
    expect(seen.map((s) => [s.method, s.headers.authorization])).toEqual([
      ['GET', `Bearer ${TOKEN}`],
      ['PATCH', `Bearer ${TOKEN}`],
    ]);
    expect(JSON.parse(seen[1]!.body)).toEqual({ scaling: { manualInstanceCount: 0 } });
    const curlLines = argvLog()
      .split('\n')
      .filter((l) => l.includes(`127.0.0.1:${port}`));
    expect(curlLines).toHaveLength(2);
    expect(argvLog()).not.toContain(TOKEN);
  });

  it('has no script that writes an Authorization header or a token into a command line', () => {
    for (const f of readdirSync('scripts').filter((n) => n.endsWith('.sh'))) {
      const lines = readFileSync(join('scripts', f), 'utf8').split('\n');
      for (const [i, line] of lines.entries()) {
        if (/^\s*#/.test(line)) continue;
        const where = `${f}:${i + 1}: ${line.trim()}`;
        // The one place a header is written is curl_with_token's printf, which feeds curl's stdin.
        if (/Authorization/.test(line)) expect(where).toMatch(/printf 'Authorization: Bearer %s\\n' "\$token" \| curl -H @-/);
        expect(where).not.toMatch(/curl[^|]*print-(access|identity)-token/);
      }
    }
  });
});

describe('deploy scripts: set-secrets.sh rotates', () => {
  const setSecret = (name: string, value: string, extra: Record<string, string> = {}) =>
    spawnSync('bash', ['scripts/set-secrets.sh', name], { cwd: repo, env: env(extra), input: value, encoding: 'utf8' });
  const states = (secret: string) =>
    Object.fromEntries(
      readdirSync(join(state, secret))
        .filter((f) => f.endsWith('.state'))
        .map((f) => [f.replace('.state', ''), readFileSync(join(state, secret, f), 'utf8').trim()]),
    );

  it('disables the versions a new value supersedes, once the new one reads back right, and never prints or passes the value', () => {
    const first = setSecret('TOTE_API_KEY', 'key-first-0123456789');
    expect(first.status, first.stderr).toBe(0);
    expect(states('tote-api-key')).toEqual({ 1: 'ENABLED' });
    const second = setSecret('TOTE_API_KEY', 'key-second-0123456789');
    expect(second.status, second.stderr).toBe(0);
    expect(states('tote-api-key')).toEqual({ 1: 'DISABLED', 2: 'ENABLED' });
    expect(second.stdout).toContain('verified; 1 earlier version(s) disabled');
    for (const out of [first.stdout + first.stderr, second.stdout + second.stderr, argvLog()]) {
      expect(out).not.toContain('key-first');
      expect(out).not.toContain('key-second');
    }
  });

  it('leaves the earlier versions enabled when the new one does not read back as given', () => {
    const r = setSecret('TOTE_API_KEY', 'key-third-0123456789', { FAKE_READBACK_DIFFERS: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('does not hold the value given; the earlier versions are left enabled');
    expect(states('tote-api-key')).toMatchObject({ 2: 'ENABLED' });
    expect(r.stdout + r.stderr).not.toContain('key-third');
  });

  it('refuses the SSE key unless the stack has one (token mode with HS256)', () => {
    const r = setSecret('SSE_ACCESS_JWT_SECRET', 'x'.repeat(40));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('SSE_ACCESS_JWT_SECRET is used only with DEPLOY_SSE_ACCESS=token');
    const token = setSecret('SSE_ACCESS_JWT_SECRET', 'k'.repeat(40), { DEPLOY_SSE_ACCESS: 'token' });
    expect(token.status, token.stderr).toBe(0);
    expect(states('tote-sse-jwt-secret')).toEqual({ 1: 'ENABLED' });
  });
});

describe('deploy scripts: a services apply and the scale jobs', () => {
  const at = (hh: number, mm: number) => hh * 60 + mm;
  // 06:00-23:00 with 5 minutes' lead and lag: the jobs fire at 05:55 and 23:05.
  const clock = (body: string) => {
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `source scripts/deploy-env.sh\n${body}`], {
      cwd: repo,
      env: { PATH: process.env.PATH ?? '', SCALED_FROM: String(at(5, 55)), SCALED_UNTIL: String(at(23, 5)) },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    return r.stdout.trim();
  };

  it('waits before an apply that would start within ten minutes of a scale job', () => {
    expect(clock(`minutes_to_scale_job ${at(5, 50)}`)).toBe('5');
    expect(clock(`minutes_to_scale_job ${at(22, 58)}`)).toBe('7');
    expect(clock(`minutes_to_scale_job ${at(12, 0)}`)).toBe(String(at(23, 5) - at(12, 0)));
    // After 23:05 the next job is tomorrow's 05:55.
    expect(clock(`minutes_to_scale_job ${at(23, 6)}`)).toBe(String(24 * 60 - at(23, 6) + at(5, 55)));
    expect(clock('echo $SCALE_JOB_CLEARANCE_MINUTES')).toBe('10');
  });

  it('knows when a scale job fired during the apply, and which count the schedule has then', () => {
    expect(clock(`scale_job_between ${at(5, 50)} ${at(5, 58)} && echo crossed || echo clear`)).toBe('crossed');
    expect(clock(`scale_job_between ${at(23, 5)} ${at(23, 9)} && echo crossed || echo clear`)).toBe('crossed');
    expect(clock(`scale_job_between ${at(10, 0)} ${at(10, 12)} && echo crossed || echo clear`)).toBe('clear');
    expect(clock(`scale_job_between ${at(23, 58)} ${at(0, 7)} && echo crossed || echo clear`)).toBe('clear');
    expect(clock(`schedule_count ${at(5, 58)}; schedule_count ${at(23, 9)}; schedule_count ${at(3, 0)}`)).toBe('1\n0\n0');
  });
});

describe('image tag by content', () => {
  let a = '';
  let b = '';
  beforeAll(() => {
    a = join(work, 'ctx-a');
    for (const p of [
      'Dockerfile',
      '.dockerignore',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src',
      'sql',
      'infra/gcloudignore',
    ]) {
      cpSync(join(repo, p), join(a, p), { recursive: true });
    }
    b = join(work, 'ctx-b');
    cpSync(a, b, { recursive: true });
  });

  it('gives two copies of the same sources the same tag, whatever lies outside the upload', () => {
    writeFileSync(join(b, 'README.md'), 'not uploaded');
    mkdirSync(join(b, 'test'));
    writeFileSync(join(b, 'test', 'x.test.ts'), 'not uploaded');
    expect(contextTag(b)).toBe(contextTag(a));
    expect(contextTag(a)).toMatch(/^src-[0-9a-f]{16}$/);
    expect(contextFiles(a)).toContain('src/subscriber/main.ts');
    expect(contextFiles(a).some((f: string) => f.startsWith('test/') || f === 'README.md')).toBe(false);
  });

  it('changes the tag when any uploaded file changes', () => {
    const before = contextTag(b);
    writeFileSync(
      join(b, 'src', 'subscriber', 'main.ts'),
      readFileSync(join(a, 'src', 'subscriber', 'main.ts'), 'utf8') + '\n// changed\n',
    );
    expect(contextTag(b)).not.toBe(before);
  });
});
