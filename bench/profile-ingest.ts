/**
 * One ingest variant in this process, for a CPU profile of the subscriber's
 * hot path (the frame sender runs in its own process as in the benchmark):
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-ingest.ts [noop|memory|duckdb|emulator] [frames]
 *   npx tsx bench/profile-summary.ts /tmp/prof/<the largest file>
 *
 * `publish` profiles the project's publisher, `bare-publish` the bare client,
 * each publishing a ready array of envelopes over 200 ordering keys with the
 * same attributes (`bare-publish-data-only`: the data alone); `frames` is
 * then the message count, published in 5 rounds. `emulator` and the publish
 * variants need PUBSUB_EMULATOR_HOST.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { setLogLevel } from '../src/log/logger.js';
import { barePublisher, ingestOnce, projectPublisher, sampleEnvelopes, startSender, type IngestVariant } from './pipeline.js';
import { fmt } from './stats.js';

setLogLevel('ERROR');
process.env.METADATA_SERVER_DETECTION ??= 'none';
const variant = process.argv[2] ?? 'memory';
const ingestVariants = ['noop', 'memory', 'duckdb', 'emulator'];
const publishVariants = ['publish', 'bare-publish', 'bare-publish-data-only'];
if (![...ingestVariants, ...publishVariants].includes(variant))
  throw new Error(`variant must be one of ${[...ingestVariants, ...publishVariants].join(', ')}, got "${variant}"`);
const emulatorHost = process.env.PUBSUB_EMULATOR_HOST || null;
if ((variant === 'emulator' || publishVariants.includes(variant)) && !emulatorHost)
  throw new Error(`${variant} needs PUBSUB_EMULATOR_HOST`);
const frames = Number(process.argv[3] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
try {
  if (publishVariants.includes(variant)) {
    const cfg = loadConfig({ BUS: 'pubsub', PUBSUB_EMULATOR_HOST: emulatorHost!, GOOGLE_CLOUD_PROJECT: 'bench', PUBSUB_ORDERING: 'true' });
    const envelopes = sampleEnvelopes(frames, 200);
    for (let round = 0; round < 5; round++) {
      const r =
        variant === 'publish'
          ? await projectPublisher(cfg, envelopes)
          : await barePublisher(emulatorHost!, cfg, envelopes, variant === 'bare-publish');
      console.log(`${variant}: ${fmt(r.perS)} msg/s, ${r.cpuSecondsPer10k.toFixed(2)} CPU-s per 10,000`);
    }
  } else {
    const sender = await startSender(frames);
    try {
      const r = await ingestOnce(variant as IngestVariant, sender.url, frames, emulatorHost, dir);
      console.log(`${variant}: ${fmt(r.perS)} msg/s, ${r.cpuSecondsPer10k.toFixed(2)} CPU-s per 10,000`);
    } finally {
      sender.child.kill();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
