import { describe, expect, inject, it } from 'vitest';
import { setLogLevel } from '../src/log/logger.js';
import { crossInstanceResume } from './chaos/sse-scenarios.js';

const emulatorHost = inject('pubsubEmulatorHost');
const skipReason = inject('pubsubEmulatorSkip');

describe.skipIf(!emulatorHost)(`resume across SSE instances on the Pub/Sub emulator${skipReason ? ` (${skipReason})` : ''}`, () => {
  setLogLevel('ERROR');
  it('a stream cut every few events and resumed by Last-Event-ID on the other instance gets every message once, though the instances receive them in different orders', async () => {
    const row = await crossInstanceResume({ full: false, emulatorHost }, { events: 400, skewMs: 300, reorderWindowMs: 1_000 });
    expect(row.hops).toBeGreaterThan(5);
    // The publisher's numbers reached the instances through the emulator: events went out without the whole window.
    expect(row.inSequence).toBeGreaterThan(0);
    expect(row.resyncs).toBe(0);
    expect({ lost: row.lost, duplicated: row.duplicated }).toEqual({ lost: 0, duplicated: 0 });
  }, 120_000);
});
