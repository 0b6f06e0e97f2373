import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { entryForMessageType } from '../src/catalog/catalog.js';
import { EnvReader } from '../src/config/env.js';
import { readHistoryConfig } from '../src/config/history.js';
import { makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { createHistorySink, type BatchingHistoryStatus } from '../src/history/index.js';
import { DEAD_LETTERS_TABLE, MESSAGE_COLUMNS, MESSAGES_TABLE } from '../src/history/schema.js';
import { setLogLevel } from '../src/log/logger.js';
import { FakeBigQuery } from './bigquery-server/fake-bigquery.js';
import { startHistoryStandIn, type HistoryStandIn } from './bigquery-server/history-stand-in.js';
import { localAuthClient } from './bigquery-server/local-auth.js';

let fake: FakeBigQuery;

beforeAll(() => setLogLevel('ERROR'));
let standIn: HistoryStandIn;
beforeEach(async () => {
  standIn = await startHistoryStandIn('tote-bq-reconcile-');
  ({ fake } = standIn);
});
afterEach(() => standIn.stop());

function envelope(productId: string, delivery: 'live' | 'reconciled'): Envelope {
  const entry = entryForMessageType('ProductStatusChanged')!;
  return makeEnvelope(
    entry,
    { productId, status: 'CLOSED' },
    { productId },
    { source: 'tote', protocol: null, connectionId: 'c', instanceId: 'i' },
    new Date(),
    false,
    delivery,
  );
}

async function store(envelopes: Envelope[]) {
  const cfg = readHistoryConfig(new EnvReader(standIn.env({ HISTORY_BATCH_MAX_DELAY_MS: '5' })));
  const sink = createHistorySink(cfg, { bigqueryClientOptions: { authClient: localAuthClient() } });
  await sink.connect();
  for (const e of envelopes) await sink.write(e);
  await sink.flush();
  await sink.close();
  return sink.status() as BatchingHistoryStatus;
}

describe('the delivery column in BigQuery', () => {
  it('marks reconciled rows and leaves live rows NULL, so SQL can tell them apart', async () => {
    await store([envelope('live-1', 'live'), envelope('fixed-1', 'reconciled')]);
    const rows = fake.rows(MESSAGES_TABLE);
    expect(rows.find((r) => r.json.product_id === 'fixed-1')!.json.delivery).toBe('reconciled');
    expect(rows.find((r) => r.json.product_id === 'live-1')!.json).not.toHaveProperty('delivery');
  });

  it('on a table not yet given the column, refuses only the reconciled rows (dead-lettered for replay) and keeps every live one', async () => {
    fake.setSchema(
      MESSAGES_TABLE,
      MESSAGE_COLUMNS.filter((c) => c.name !== 'delivery'),
    );
    const st = await store([envelope('live-1', 'live'), envelope('live-2', 'live'), envelope('fixed-1', 'reconciled')]);
    expect(st.stored).toBe(2);
    expect(st.deadLettered).toBe(1);
    expect(
      fake
        .rows(MESSAGES_TABLE)
        .map((r) => r.json.product_id)
        .sort(),
    ).toEqual(['live-1', 'live-2']);
    expect(fake.rows(DEAD_LETTERS_TABLE)[0]!.json.detail).toMatch(/no such field: delivery/);
  });
});
