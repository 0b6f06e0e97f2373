import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { gcloudAvailable, startPubsubEmulator, type RunningEmulator } from './helpers/pubsub-emulator.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the Pub/Sub emulator, or '' when it could not run. */
    pubsubEmulatorHost: string;
    /** Why the emulator is not available ('' when it is). */
    pubsubEmulatorSkip: string;
  }
}

let emulator: RunningEmulator | undefined;

/** The user's own history folder (DUCKDB_PATH's default): no test may write there. */
const USER_DATA = 'data';

function filesUnder(dir: string): Set<string> {
  try {
    return new Set(readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile()));
  } catch {
    return new Set();
  }
}

let dataBefore = new Set<string>();

/**
 * One Pub/Sub emulator for the whole run. Where gcloud or java is missing the
 * emulator tests skip with the reason, except under CI=true, where that is a
 * failure: CI must prove the Pub/Sub path, not skip it.
 */
export async function setup(project: TestProject): Promise<void> {
  dataBefore = filesUnder(USER_DATA);
  const missing = gcloudAvailable();
  if (missing) {
    if (process.env.CI === 'true') throw new Error(`CI=true and the Pub/Sub emulator cannot run: ${missing}`);
    project.provide('pubsubEmulatorHost', '');
    project.provide('pubsubEmulatorSkip', missing);
    return;
  }
  emulator = await startPubsubEmulator();
  project.provide('pubsubEmulatorHost', emulator.host);
  project.provide('pubsubEmulatorSkip', '');
}

/**
 * Fails the run when it left new files in ./data: a test wrote outside its
 * temporary folder (a spill file there would be replayed into the user's
 * history by `npm run replay-history`). New files only: a pipeline the user
 * runs meanwhile may grow the files already there.
 */
export async function teardown(): Promise<void> {
  await emulator?.stop();
  const added = [...filesUnder(USER_DATA)].filter((f) => !dataBefore.has(f));
  if (added.length) {
    // An error thrown here is only printed; the exit code is what CI sees.
    console.error(`FAIL: the test run wrote into ./${USER_DATA}, outside any temporary folder: ${added.join(', ')}`);
    process.exitCode = 1;
  }
}
