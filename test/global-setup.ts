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

/**
 * One Pub/Sub emulator for the whole run. Where gcloud or java is missing the
 * emulator tests skip with the reason, except under CI=true, where that is a
 * failure: CI must prove the Pub/Sub path, not skip it.
 */
export async function setup(project: TestProject): Promise<void> {
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

export async function teardown(): Promise<void> {
  await emulator?.stop();
}
