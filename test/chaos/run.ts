/**
 * `npm run chaos`: the fault suite in its full form against the real parts
 * (simulator, a Pub/Sub emulator started here, DuckDB, real SSE clients),
 * printed as one table. Exits 1 when any scenario lost or doubled a message.
 */
import { setLogLevel } from '../../src/log/logger.js';
import { gcloudAvailable, startPubsubEmulator, type RunningEmulator } from '../helpers/pubsub-emulator.js';
import { formatTable, SCENARIOS, type Row } from './scenarios.js';

async function main(): Promise<void> {
  setLogLevel('ERROR');
  // Off Google Cloud the auth library probes the metadata server and warns; nothing here needs it (as in vitest.config.ts).
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const short = process.argv.includes('--short');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  let emulator: RunningEmulator | undefined;
  const missing = gcloudAvailable();
  if (missing) process.stderr.write(`Pub/Sub scenarios not run: ${missing}\n`);
  else emulator = await startPubsubEmulator('chaos');
  const rows: Row[] = [];
  try {
    for (const s of SCENARIOS) {
      if (only && !s.name.includes(only)) continue;
      process.stderr.write(`running: ${s.name}\n`);
      const started = Date.now();
      try {
        rows.push(await s.run({ full: !short, emulatorHost: emulator?.host ?? '' }));
      } catch (err) {
        rows.push({ scenario: s.name, sent: null, received: null, published: null, stored: null, deadLettered: null, lost: null, duplicated: null, peakRssMb: null, note: `failed: ${(err as Error).message.slice(0, 160)}` });
      }
      process.stderr.write(`  done in ${Math.round((Date.now() - started) / 1000)} s\n`);
    }
  } finally {
    await emulator?.stop();
  }
  process.stdout.write(formatTable(rows) + '\n');
  const bad = rows.filter((r) => (r.lost ?? 0) !== 0 || (r.duplicated ?? 0) !== 0 || r.note.startsWith('failed'));
  process.exit(bad.length ? 1 : 0);
}

void main();
