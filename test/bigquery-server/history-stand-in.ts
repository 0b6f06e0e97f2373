import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEAD_LETTER_COLUMNS, DEAD_LETTERS_TABLE, MESSAGE_COLUMNS, MESSAGES_TABLE } from '../../src/history/schema.js';
import { FakeBigQuery } from './fake-bigquery.js';

export const STAND_IN_PROJECT = 'tote-test';
export const STAND_IN_DATASET = 'tote_history';

export interface HistoryStandIn {
  readonly fake: FakeBigQuery;
  readonly dir: string;
  /** The environment of a BigQuery history writing to this stand-in, spilling to a file in `dir`, with `extra` on top. */
  env(extra?: Record<string, string>): Record<string, string>;
  stop(): Promise<void>;
}

/** The BigQuery stand-in with the history's message and dead-letter tables, and a temporary folder for the spill. */
export async function startHistoryStandIn(prefix: string): Promise<HistoryStandIn> {
  const fake = await FakeBigQuery.start({
    project: STAND_IN_PROJECT,
    dataset: STAND_IN_DATASET,
    schemas: { [MESSAGES_TABLE]: MESSAGE_COLUMNS, [DEAD_LETTERS_TABLE]: DEAD_LETTER_COLUMNS },
  });
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    fake,
    dir,
    env: (extra = {}) => ({
      HISTORY: 'bigquery',
      BQ_PROJECT: STAND_IN_PROJECT,
      BQ_DATASET: STAND_IN_DATASET,
      BQ_API_ENDPOINT: fake.url,
      HISTORY_SPILL: 'file',
      HISTORY_SPILL_FILE: join(dir, 'spill.jsonl'),
      ...extra,
    }),
    stop: async () => {
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
