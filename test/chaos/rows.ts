import type { Row } from './scenarios.js';

/** A table row for a scenario that did not run to figures (not built here, or failed), with the reason. */
export function notRun(scenario: string, note: string): Row {
  return {
    scenario,
    sent: null,
    received: null,
    published: null,
    stored: null,
    deadLettered: null,
    lost: null,
    duplicated: null,
    peakRssMb: null,
    note,
  };
}
