// Proves the container image without a Docker engine: reads the Dockerfile,
// runs its build stage's commands in a clean copy of what Cloud Build uploads
// (the infra/gcloudignore allowlist), under the Node major of its base image
// (the `node` npm package ships that binary), assembles the runtime stage from
// what it copies, and boots both services from it until /health answers.
//
//   node scripts/check-image.mjs            # npm run check:image; .ci/run runs it
//   KEEP_IMAGE_DIR=1 node scripts/check-image.mjs   # leave the copy for a look
//
// Only the instructions this Dockerfile uses are understood (ARG, FROM, WORKDIR,
// COPY, RUN, ENV, USER, EXPOSE, CMD); any other stops the check, so a new one
// cannot be skipped silently.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot as repo, uploadedPaths } from './build-context.mjs';

const started = Date.now();
const say = (msg) => console.log(`[image] ${msg}`);
const elapsed = () => `${Math.round((Date.now() - started) / 1000)} s`;
const children = new Set();
let work = '';

function fail(msg) {
  console.error(`[image] FAILED: ${msg}`);
  cleanup();
  process.exit(1);
}

function cleanup() {
  for (const c of children) {
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  children.clear();
  if (work && !process.env.KEEP_IMAGE_DIR) rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => fail('interrupted'));
process.on('SIGTERM', () => fail('terminated'));

/** The Dockerfile as instructions: comments dropped, continuation lines joined. */
function parseDockerfile(text) {
  const out = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\w+)\s+(.*)$/.exec(full);
    if (m) out.push({ op: m[1].toUpperCase(), arg: m[2] });
  }
  return out;
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function waitFor(what, timeoutMs, probe) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > until) fail(`${what} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function sizeOf(path) {
  let total = 0;
  const walk = (p) => {
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else total += st.size;
  };
  walk(path);
  return total;
}

function startProcess(name, cmd, args, opts) {
  const child = spawn(cmd, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const keep = (b) => (output = (output + b.toString()).slice(-6000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const state = { child, exited: null, output: () => output };
  // 'close', not 'exit': the output has been read by then, so a failure shows its last words.
  child.on('close', (code, signal) => {
    state.exited = { code, signal };
    children.delete(child);
  });
  child.on('error', (err) => fail(`${name} did not start: ${err.message}`));
  return state;
}

async function stopProcess(state, what, timeoutMs = 15_000) {
  if (state.exited) return state.exited;
  process.kill(-state.child.pid, 'SIGTERM');
  await waitFor(`${what} to exit after SIGTERM`, timeoutMs, async () => state.exited !== null);
  return state.exited;
}

async function main() {
  const steps = parseDockerfile(readFileSync(join(repo, 'Dockerfile'), 'utf8'));
  const vars = {};
  const expand = (s) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => vars[a ?? b] ?? '');
  const stages = [];
  for (const { op, arg } of steps) {
    if (op === 'ARG') {
      const [k, v = ''] = arg.split('=');
      if (!(k in vars)) vars[k] = process.env[`BUILD_ARG_${k}`] ?? v;
      continue;
    }
    if (op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(expand(arg));
      stages.push({ image: m[1], name: m[2] ?? String(stages.length), steps: [] });
      continue;
    }
    if (!stages.length) fail(`${op} before the first FROM`);
    stages.at(-1).steps.push({ op, arg });
  }
  const images = [...new Set(stages.map((s) => s.image))];
  const major = images.map((i) => /^node:(\d+)/.exec(i)?.[1]);
  if (major.some((m) => !m) || new Set(major).size !== 1) fail(`expected every stage on one node:<major> image, got ${images.join(', ')}`);

  work = mkdtempSync(join(tmpdir(), 'tote-image-'));
  say(`Dockerfile: ${stages.length} stages on ${images[0]}; working in ${work}`);

  // The Node of the base image, from the npm registry.
  const nodeSpec = `node@${major[0]}`;
  const which = spawnSync('npx', ['--yes', '-p', nodeSpec, 'node', '-p', 'process.execPath + " " + process.version'], {
    encoding: 'utf8',
    cwd: work,
  });
  if (which.status !== 0) fail(`could not fetch ${nodeSpec} from the npm registry: ${which.stderr}`);
  const [nodeBin, nodeVersion] = which.stdout.trim().split(' ');
  const bin = join(work, 'bin');
  mkdirSync(bin);
  spawnSync('ln', ['-s', nodeBin, join(bin, 'node')]);
  // A clean npm: no user configuration of this machine (the image has none), the shared download cache.
  const npmrc = join(work, 'npmrc');
  writeFileSync(npmrc, '');
  const baseEnv = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: process.env.HOME,
    NPM_CONFIG_USERCONFIG: npmrc,
    NPM_CONFIG_UPDATE_NOTIFIER: 'false',
    ...(process.env.NPM_CONFIG_CACHE ? { NPM_CONFIG_CACHE: process.env.NPM_CONFIG_CACHE } : {}),
  };
  say(`Node ${nodeVersion} (${nodeSpec} from npm)`);

  // The build context: what Cloud Build uploads, then .dockerignore on top (its entries are not re-copied).
  const context = join(work, 'context');
  for (const p of uploadedPaths()) {
    if (!existsSync(join(repo, p))) fail(`infra/gcloudignore allows ${p}, which does not exist`);
    cpSync(join(repo, p), join(context, p), { recursive: true });
  }
  const ignored = readFileSync(join(context, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.includes('*'));
  for (const p of ignored) rmSync(join(context, p), { recursive: true, force: true });

  const roots = new Map();
  for (const stage of stages) {
    const root = join(work, `stage-${stage.name}`);
    mkdirSync(root);
    roots.set(stage.name, root);
    stage.root = root;
    stage.cwd = '/';
    stage.env = {};
    const inStage = (p, cwd = stage.cwd) => join(root, p.startsWith('/') ? p : join(cwd, p));
    for (const { op, arg } of stage.steps) {
      const a = expand(arg);
      if (op === 'WORKDIR') {
        stage.cwd = a.startsWith('/') ? a : join(stage.cwd, a);
        mkdirSync(inStage('.'), { recursive: true });
      } else if (op === 'ENV') {
        const m = /^(\w+)[= ](.*)$/.exec(a);
        stage.env[m[1]] = m[2];
      } else if (op === 'COPY') {
        const words = a.split(/\s+/);
        const from = words[0].startsWith('--from=') ? words.shift().slice('--from='.length) : null;
        if (words.some((w) => w.startsWith('--'))) fail(`COPY option not understood: ${a}`);
        const dest = words.pop();
        const srcRoot = from === null ? context : roots.get(from);
        if (!srcRoot) fail(`COPY --from=${from}: no such stage`);
        for (const src of words) {
          const s = from === null ? join(context, src) : join(srcRoot, src);
          if (!existsSync(s)) fail(`${stage.name}: COPY ${src}: not in the ${from === null ? 'build context' : `${from} stage`}`);
          const toDir = dest.endsWith('/') || words.length > 1;
          const d = toDir && !statSync(s).isDirectory() ? join(inStage(dest), src.split('/').pop()) : inStage(dest);
          cpSync(s, d, { recursive: true });
        }
      } else if (op === 'RUN') {
        say(`${stage.name}: RUN ${a.length > 100 ? a.slice(0, 100) + '...' : a}`);
        const t = Date.now();
        const r = spawnSync('sh', ['-c', a], { cwd: inStage('.'), env: { ...baseEnv, ...stage.env }, stdio: 'inherit' });
        if (r.status !== 0) fail(`${stage.name}: RUN exited ${r.status}: ${a}`);
        say(`  ok in ${Math.round((Date.now() - t) / 1000)} s`);
      } else if (op === 'CMD') {
        stage.cmd = JSON.parse(a);
      } else if (op === 'USER' || op === 'EXPOSE') {
        // No effect on what is in the image.
      } else {
        fail(`Dockerfile instruction ${op} is not understood by this check; teach scripts/check-image.mjs`);
      }
    }
  }

  const runtime = stages.at(-1);
  const app = join(runtime.root, runtime.cwd);
  if (!runtime.cmd || runtime.cmd[0] !== 'node') fail('the runtime stage must run node directly (CMD ["node", ...])');
  // What the image must not carry: test and build tools, the local-only TypeScript runner and DuckDB, CDKTF.
  const banned = ['tsx', '@duckdb', 'typescript', 'vitest', 'playwright-core', 'esbuild', 'cdktf', 'cdktf-cli', '@cdktf'];
  // npm prune leaves an emptied scope folder behind: a scope counts only with a package in it.
  const present = banned.filter((p) => {
    const dir = join(app, 'node_modules', p);
    return existsSync(dir) && (!p.startsWith('@') || readdirSync(dir).length > 0);
  });
  if (present.length) fail(`the runtime image carries ${present.join(', ')}`);
  const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
  say(`runtime: node_modules ${mb(sizeOf(join(app, 'node_modules')))}, dist ${mb(sizeOf(join(app, 'dist')))}`);

  // Pub/Sub for both services: the emulator when gcloud can run it (CI insists).
  let emulator = null;
  const gcloud = spawnSync('gcloud', ['--version'], { encoding: 'utf8' });
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const haveEmulator = gcloud.status === 0 && java.status === 0;
  if (!haveEmulator && process.env.CI === 'true') fail('CI=true and the Pub/Sub emulator (gcloud, java) cannot run');
  let pubsubEnv = { BUS: 'memory' };
  if (haveEmulator) {
    const host = `127.0.0.1:${await freePort()}`;
    emulator = startProcess(
      'emulator',
      'gcloud',
      ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, '--project=image-check', '--quiet'],
      {},
    );
    await waitFor('the Pub/Sub emulator to answer', 90_000, async () => {
      if (emulator.exited) fail(`the Pub/Sub emulator exited: ${emulator.output()}`);
      return (await fetch(`http://${host}/`)).ok;
    });
    pubsubEnv = { BUS: 'pubsub', PUBSUB_EMULATOR_HOST: host, GOOGLE_CLOUD_PROJECT: 'image-check', PUBSUB_CREATE_TOPICS: 'true' };
  }

  // Both entry points of the one image: the image's CMD and the SSE service's (infra/services/sse-service.ts).
  const services = [
    {
      name: 'subscriber',
      args: runtime.cmd.slice(1),
      // Tote is never contacted (no auto start): the URL and key only satisfy the configuration.
      env: {
        ...pubsubEnv,
        HISTORY: 'none',
        TOTE_SUBSCRIPTIONS_URL: 'ws://127.0.0.1:9/unused',
        TOTE_API_KEY: 'image-check-placeholder',
        SUBSCRIBER_AUTO_START: 'false',
      },
    },
    ...(haveEmulator ? [{ name: 'sse', args: ['dist/src/sse/main.js'], env: pubsubEnv }] : []),
  ];
  if (!haveEmulator) say('no Pub/Sub emulator here (gcloud and java): the SSE service is not booted');
  for (const s of services) {
    const port = await freePort();
    const env = { PATH: baseEnv.PATH, HOME: app, ...runtime.env, ...s.env, PORT: String(port), METADATA_SERVER_DETECTION: 'none' };
    const proc = startProcess(s.name, 'node', s.args, { cwd: app, env });
    await waitFor(`${s.name}: GET /health to answer 200`, 90_000, async () => {
      if (proc.exited) fail(`${s.name} exited (${JSON.stringify(proc.exited)}):\n${proc.output()}`);
      return (await fetch(`http://127.0.0.1:${port}/health`)).status === 200;
    });
    say(`${s.name}: node ${s.args.join(' ')} -> /health 200`);
    const exit = await stopProcess(proc, s.name);
    if (exit.code !== 0) fail(`${s.name} exited ${JSON.stringify(exit)} after SIGTERM:\n${proc.output()}`);
    say(`${s.name}: SIGTERM -> exit 0`);
  }
  if (emulator) await stopProcess(emulator, 'the Pub/Sub emulator');
  cleanup();
  say(`image build stage and runtime proven in ${elapsed()}`);
}

main().catch((err) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)));
