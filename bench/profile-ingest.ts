/**
 * One ingest variant in this process, for a CPU profile of the subscriber's
 * hot path (the frame sender runs in its own process as in the benchmark):
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-ingest.ts [noop|memory|duckdb] [frames]
 *   npx tsx bench/profile-summary.ts /tmp/prof/<the largest file>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setLogLevel } from '../src/log/logger.js';
import { ingestOnce, startSender, type IngestVariant } from './pipeline.js';
import { fmt } from './stats.js';

setLogLevel('ERROR');
const variant = (process.argv[2] ?? 'memory') as IngestVariant;
if (!['noop', 'memory', 'duckdb'].includes(variant)) throw new Error(`variant must be noop, memory or duckdb, got "${variant}"`);
const frames = Number(process.argv[3] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
const sender = await startSender(frames);
try {
  const r = await ingestOnce(variant, sender.url, frames, null, dir);
  console.log(`${variant}: ${fmt(r.perS)} msg/s, ${r.cpuSecondsPer10k.toFixed(2)} CPU-s per 10,000`);
} finally {
  sender.child.kill();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
