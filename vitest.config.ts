import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real servers, the Pub/Sub emulator and Chromium on a 2-core machine,
    // and chain several waits of up to 30 s each (test/helpers/ports.ts) when the machine is loaded.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts'],
    // Off Google Cloud the auth library probes the metadata server and warns; nothing here needs it.
    env: { METADATA_SERVER_DETECTION: 'none' },
    pool: 'forks',
    maxWorkers: 2,
  },
});
