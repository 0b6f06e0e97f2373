import { describe, expect, inject, it } from 'vitest';
import { setLogLevel } from '../src/log/logger.js';
import { formatTable, SCENARIOS, type Row } from './chaos/scenarios.js';

const emulatorHost = inject('pubsubEmulatorHost');
const rows: Row[] = [];

/** The fault suite's short form: each scenario that holds on this branch must lose nothing and double nothing. */
describe('fault suite, short form', () => {
  setLogLevel('ERROR');
  for (const s of SCENARIOS.filter((x) => x.short)) {
    it(`${s.name}: nothing lost, nothing doubled`, async () => {
      const row = await s.run({ full: false, emulatorHost });
      rows.push(row);
      if (row.sent === null) return; // not runnable here (no emulator): reported in the table, skipped
      expect(row.lost).toBe(0);
      expect(row.duplicated).toBe(0);
      expect(row.received).toBe(row.sent);
    }, 180_000);
  }
  it('prints the table', () => {
    console.log('\n' + formatTable(rows));
    expect(rows.length).toBe(SCENARIOS.filter((x) => x.short).length);
  });
});
