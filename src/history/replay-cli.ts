import { BigQuery } from '@google-cloud/bigquery';
import type { HistoryConfig } from '../config/history.js';
import { BigQueryInserter } from './bigquery/bigquery-inserter.js';
import { DeadLetterSource, bigqueryDeadLetters, duckdbDeadLetters } from './dead-letter-source.js';
import { DuckDbInserter } from './duckdb/duckdb-inserter.js';
import type { RowInserter } from './inserter.js';
import { replayHistory, type ReplayReport, type ReplaySource } from './replay.js';
import { DEAD_LETTERS_TABLE } from './schema.js';
import { FileSpillSource } from './spill/file-spill-source.js';
import { PubsubSpillSource } from './spill/pubsub-spill-source.js';
import { spillPubSub } from './spill/pubsub-spill.js';

const USAGE = `usage: npm run replay-history -- [--source spill|dead-letters] [--since <ISO time>] [--dry-run]
  --source spill          (default) rows spilled while the store was failing: the Pub/Sub
                          subscription HISTORY_SPILL_SUBSCRIPTION, or the JSONL file HISTORY_SPILL_FILE
  --source dead-letters   message rows the store refused (reason history-rejected), read back
                          from the dead-letter table, e.g. after the table gained a column
  --since <time>          dead letters received at or after this time only (default: all)
  --dry-run               count what would be replayed; store and acknowledge nothing
  --batch <n>             rows per insert (default 500)
  --idle-ms <n>           Pub/Sub: drained once the subscription answered "nothing to deliver"
                          twice, this long apart (default 5000)
The store is the one HISTORY names (bigquery or duckdb). Rows keep their ids, so replaying
twice stores nothing twice (BigQuery: the views drop a late repeat by envelope_id); a spilled
row is acknowledged only once the store has it. A dead-lettered row refused again stays as the
dead letter it was (counted as refused again, exit 1); no new dead letter is written.`;

export interface ReplayCliIo {
  out(text: string): void;
  err(text: string): void;
}

export interface ReplayCliOptions {
  /** Extra BigQuery client options (tests: a local server's auth). */
  bigqueryClientOptions?: ConstructorParameters<typeof BigQuery>[0];
}

interface Args {
  source: 'spill' | 'dead-letters';
  since: Date;
  dryRun: boolean;
  batch: number;
  idleMs: number;
}

function parse(argv: readonly string[]): Args | string {
  const a: Args = { source: 'spill', since: new Date(0), dryRun: false, batch: 500, idleMs: 5_000 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]!;
    const next = () => argv[++i] ?? '';
    if (v === '--source') {
      const s = next();
      if (s !== 'spill' && s !== 'dead-letters') return `--source must be spill or dead-letters\n${USAGE}`;
      a.source = s;
    } else if (v === '--since') {
      a.since = new Date(next());
      if (Number.isNaN(a.since.getTime())) return `--since must be a time, e.g. 2026-07-01T06:00:00Z\n${USAGE}`;
    } else if (v === '--dry-run') a.dryRun = true;
    else if (v === '--batch') a.batch = Number(next());
    else if (v === '--idle-ms') a.idleMs = Number(next());
    else return `${v === '--help' || v === '-h' ? '' : `unknown argument ${v}\n`}${USAGE}`;
  }
  if (!Number.isInteger(a.batch) || a.batch < 1 || a.batch > 10_000) return `--batch must be 1..10000\n${USAGE}`;
  if (!Number.isInteger(a.idleMs) || a.idleMs < 1) return `--idle-ms must be a whole number of milliseconds\n${USAGE}`;
  return a;
}

function target(config: HistoryConfig, opts: ReplayCliOptions): RowInserter {
  if (config.kind === 'bigquery') {
    return new BigQueryInserter({
      projectId: config.bigquery.projectId,
      dataset: config.bigquery.dataset,
      requestTimeoutMs: config.bigquery.requestTimeoutMs,
      apiEndpoint: config.bigquery.apiEndpoint,
      ...(opts.bigqueryClientOptions ? { clientOptions: opts.bigqueryClientOptions } : {}),
    });
  }
  return new DuckDbInserter(config.duckdbPath);
}

function source(config: HistoryConfig, a: Args, store: RowInserter, opts: ReplayCliOptions): ReplaySource {
  if (a.source === 'dead-letters') {
    if (store instanceof DuckDbInserter)
      return new DeadLetterSource(`duckdb:${DEAD_LETTERS_TABLE}`, duckdbDeadLetters(store.db, a.since), a.since);
    const bq = new BigQuery({
      ...(config.bigquery.projectId ? { projectId: config.bigquery.projectId } : {}),
      ...(config.bigquery.apiEndpoint ? { apiEndpoint: config.bigquery.apiEndpoint } : {}),
      ...opts.bigqueryClientOptions,
    });
    return new DeadLetterSource(
      `bigquery:${DEAD_LETTERS_TABLE}`,
      bigqueryDeadLetters(bq.dataset(config.bigquery.dataset).table(DEAD_LETTERS_TABLE)),
      a.since,
    );
  }
  if (config.spill.kind === 'pubsub')
    return new PubsubSpillSource(spillPubSub(config.spill), config.spill.subscription, { idleMs: a.idleMs, maxMessages: a.batch });
  if (config.spill.kind === 'file') return new FileSpillSource(config.spill.filePath);
  throw new Error('HISTORY_SPILL=none: there is no spill to replay');
}

/** `npm run replay-history`: returns the exit code (0 all replayed, 1 rows left, refused again or failed, 2 usage). */
export async function runReplayCli(
  argv: readonly string[],
  config: HistoryConfig,
  io: ReplayCliIo,
  opts: ReplayCliOptions = {},
): Promise<number> {
  const a = parse(argv);
  if (typeof a === 'string') {
    io.err(a);
    return argv.includes('--help') || argv.includes('-h') ? 0 : 2;
  }
  if (config.kind === 'none') {
    io.err('HISTORY=none: set HISTORY=bigquery or HISTORY=duckdb to say where rows go');
    return 2;
  }
  const store = target(config, opts);
  let report: ReplayReport;
  try {
    await store.connect();
    const src = source(config, a, store, opts);
    io.out(`replaying ${a.source} from ${src.name} into ${store.name}${a.dryRun ? ' (dry run)' : ''}`);
    report = await replayHistory(src, store, {
      batchRows: a.batch,
      maxAttempts: 5,
      retry: config.retry,
      dryRun: a.dryRun,
    });
  } catch (err) {
    io.err(`replay failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await store.close();
  }
  io.out(
    `read ${report.read}, stored ${report.stored}, dead-lettered ${report.deadLettered}, ` +
      `left in source ${report.leftInSource}, unreadable ${report.unreadable}, refused again ${report.refusedAgain}`,
  );
  if (report.stoppedBecause) io.err(`stopped early: ${report.stoppedBecause}`);
  if (report.refusedAgain)
    io.err(`${report.refusedAgain} rows refused again: still in ${DEAD_LETTERS_TABLE} with the reason; fix the cause and replay`);
  const incomplete =
    (report.leftInSource > 0 && !a.dryRun) || report.refusedAgain > 0 || report.unreadable > 0 || report.stoppedBecause !== null;
  return incomplete ? 1 : 0;
}
