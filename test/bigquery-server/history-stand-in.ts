import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEAD_LETTER_COLUMNS, DEAD_LETTERS_TABLE, MESSAGE_COLUMNS, MESSAGES_TABLE } from '../../src/history/schema.js';
import { FakeBigQuery } from './fake-bigquery.js';

export const STAND_IN_PROJECT = 'tote-test';
export const STAND_IN_DATASET = 'tote_history';

/** The BigQuery stand-in with the history's message and dead-letter tables, and a temporary folder for the spill. */
export async function startHistoryStandIn(prefix: string): Promise<{ fake: FakeBigQuery; dir: string; stop: () => Promise<void> }> {
  const fake = await FakeBigQuery.start({
    project: STAND_IN_PROJECT,
    dataset: STAND_IN_DATASET,
    schemas: { [MESSAGES_TABLE]: MESSAGE_COLUMNS, [DEAD_LETTERS_TABLE]: DEAD_LETTER_COLUMNS },
  });
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    fake,
    dir,
    stop: async () => {
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
