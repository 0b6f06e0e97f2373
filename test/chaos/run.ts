/**
 * `npm run chaos`: the fault suite in its full form against the real parts
 * (simulator, a Pub/Sub emulator started here, DuckDB, real SSE clients),
 * printed as one table. Each scenario runs in its own process, so its peak
 * RSS is its own. Exits 1 when any scenario lost or doubled a message.
 *
 *   npm run chaos [-- --short] [-- --only=<part of a name>]
 */
import { spawn } from 'node:child_process';
import { setLogLevel } from '../../src/log/logger.js';
import { gcloudAvailable, startPubsubEmulator, type RunningEmulator } from '../helpers/pubsub-emulator.js';
import { notRun } from './rows.js';
import { formatTable, SCENARIOS, type Row } from './scenarios.js';

const ROW_MARK = 'chaos-row:';

function failed(scenario: string, why: string): Row {
  return notRun(scenario, `failed: ${why.slice(0, 160)}`);
}

/** Child: run scenario `index` and print its row. */
async function child(index: number, full: boolean): Promise<void> {
  const s = SCENARIOS[index]!;
  let row: Row;
  try {
    row = await s.run({ full, emulatorHost: process.env.CHAOS_EMULATOR_HOST ?? '' });
  } catch (err) {
    row = failed(s.name, (err as Error).message);
  }
  process.stdout.write(ROW_MARK + JSON.stringify(row) + '\n');
  process.exit(0);
}

function runChild(index: number, full: boolean, emulatorHost: string): Promise<Row> {
  return new Promise((resolve) => {
    const args = ['--import', 'tsx', new URL(import.meta.url).pathname, `--child=${index}`, ...(full ? [] : ['--short'])];
    const p = spawn(process.execPath, args, {
      env: { ...process.env, CHAOS_EMULATOR_HOST: emulatorHost },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(ROW_MARK));
      resolve(
        line ? (JSON.parse(line.slice(ROW_MARK.length)) as Row) : failed(SCENARIOS[index]!.name, `process exited ${code} without a row`),
      );
    });
  });
}

async function main(): Promise<void> {
  setLogLevel('ERROR');
  // Off Google Cloud the auth library probes the metadata server and warns; nothing here needs it (as in vitest.config.ts).
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const full = !process.argv.includes('--short');
  const childArg = process.argv.find((a) => a.startsWith('--child='));
  if (childArg) return child(Number(childArg.slice('--child='.length)), full);
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  let emulator: RunningEmulator | undefined;
  const missing = gcloudAvailable();
  if (missing) process.stderr.write(`Pub/Sub scenarios not run: ${missing}\n`);
  else emulator = await startPubsubEmulator('chaos');
  const rows: Row[] = [];
  const suiteStarted = Date.now();
  try {
    for (const [i, s] of SCENARIOS.entries()) {
      if (only && !s.name.includes(only)) continue;
      process.stderr.write(`running: ${s.name}\n`);
      const started = Date.now();
      rows.push(await runChild(i, full, emulator?.host ?? ''));
      process.stderr.write(`  done in ${Math.round((Date.now() - started) / 1000)} s\n`);
    }
  } finally {
    await emulator?.stop();
  }
  process.stdout.write(formatTable(rows) + '\n');
  process.stdout.write(`suite: ${Math.round((Date.now() - suiteStarted) / 1000)} s\n`);
  const bad = rows.filter((r) => (r.lost ?? 0) !== 0 || (r.duplicated ?? 0) !== 0 || r.note.startsWith('failed'));
  process.exit(bad.length ? 1 : 0);
}

void main();
