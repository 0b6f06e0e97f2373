import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvReader } from '../src/config/env.js';
import { readHistoryConfig } from '../src/config/history.js';
import { createHistorySink, type BatchingHistoryStatus } from '../src/history/index.js';
import { MESSAGES_TABLE } from '../src/history/schema.js';
import { setLogLevel } from '../src/log/logger.js';
import type { FakeBigQuery } from './bigquery-server/fake-bigquery.js';
import { startHistoryStandIn, type HistoryStandIn } from './bigquery-server/history-stand-in.js';
import { localAuthClient } from './bigquery-server/local-auth.js';
import { startHarness } from './helpers/subscriber-harness.js';
import { raceDay } from './history-races.js';

/**
 * SIGTERM with rows still being stored: the bus drains in a moment, and the
 * history gets the grace that is left, not only its own share. A store slower
 * than that share used to have its rows spilled (to be replayed later) while
 * most of the grace went unused.
 */
let fake: FakeBigQuery;
let standIn: HistoryStandIn;

beforeEach(async () => {
  setLogLevel('ERROR');
  standIn = await startHistoryStandIn('tote-close-');
  ({ fake } = standIn);
});

afterEach(() => standIn.stop());

describe('subscriber shutdown with history still storing', () => {
  it('stores rows at SIGTERM that take longer than the history share, when the grace has time for them', async () => {
    const history = createHistorySink(
      readHistoryConfig(
        new EnvReader({
          ...standIn.env(),
          HISTORY_BATCH_MAX_ROWS: '500',
          HISTORY_BATCH_MAX_DELAY_MS: '5',
          HISTORY_REQUEST_TIMEOUT_MS: '10000',
          // Its own share stores for under half a second: less than one insert takes below.
          HISTORY_CLOSE_TIMEOUT_MS: '600',
        }),
      ),
      { bigqueryClientOptions: { authClient: localAuthClient() } },
    );
    const h = await startHarness({ history: history, env: { SHUTDOWN_GRACE_MS: '8000' } });
    await history.connect();
    const sent = raceDay(new Date('2026-07-01T12:00:00Z'), 3, 15).envelopes;
    // A warehouse answering each insert a second late: a loaded day, not an outage.
    fake.setFaults(() => ({ kind: 'slow', ms: 1_000 }));
    for (const e of sent) await history.write(e);
    await h.close();

    const st = history.status() as BatchingHistoryStatus;
    expect(st).toMatchObject({ stored: sent.length, spilled: 0, lost: 0, backlog: 0 });
    expect(new Set(fake.rows(MESSAGES_TABLE).map((r) => r.insertId))).toEqual(new Set(sent.map((e) => e.id)));
  });
});
