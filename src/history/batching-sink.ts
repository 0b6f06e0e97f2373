import type { DeadLetter, Envelope } from '../envelope/envelope.js';
import { log } from '../log/logger.js';
import type { RowInserter } from './inserter.js';
import { BatchLane, type LaneLimits, type RefusedRows } from './lane.js';
import type { DayCard } from '../day-card/day-card.js';
import { dayCardNameRows, deadLetterRow, messageRow, rejectedRowDeadLetter, type HistoryRow, type HistoryTable } from './rows.js';
import { DEAD_LETTERS_TABLE, MESSAGES_TABLE, NAMES_TABLE } from './schema.js';
import type { HistorySpill } from './spill/spill.js';
import type { HistorySink, HistoryStatus, ImmediateHistorySink } from './types.js';

export interface BatchingSinkOptions extends LaneLimits {
  closeTimeoutMs: number;
}

/** What /status shows beyond HistoryStatus's common fields. */
export interface BatchingHistoryStatus extends HistoryStatus {
  readonly backlogBytes: number;
  /** write() calls waiting for room in the buffer (backpressure). */
  readonly waitingWriters: number;
  readonly deadLettersStored: number;
  /** Rows of the names table (day cards): only what changed since the last card is written. */
  readonly namesStored: number;
  /** Rows neither stored nor spilled at close; each was written to the log. */
  readonly lost: number;
  readonly insertAttempts: number;
  readonly retries: number;
  readonly failingSince: string | null;
  readonly spillTarget: string | null;
}

/**
 * A HistorySink over any RowInserter (BigQuery, DuckDB): envelopes go to the
 * messages lane, dead letters to the dead-letter lane. Message rows the store
 * refuses as invalid become dead letters with the store's reason.
 */
/**
 * Names remembered (id -> what was last written for it) so an unchanged day
 * card writes nothing. Past this many the memory is cleared: the next card
 * is written whole once (a few thousand rows), and the views still show one
 * name per id.
 */
const NAMES_REMEMBERED = 200_000;

export class BatchingHistorySink implements HistorySink, ImmediateHistorySink {
  private readonly messages: BatchLane;
  private readonly deadLetters: BatchLane;
  private readonly names: BatchLane;
  private readonly lastNames = new Map<string, string>();
  private counts = { stored: 0, deadLettered: 0, deadLettersStored: 0, namesStored: 0, spilled: 0, lost: 0 };
  private lastWriteAt: string | null = null;
  private connected = false;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly inserter: RowInserter,
    private readonly spill: HistorySpill | null,
    private readonly options: BatchingSinkOptions,
  ) {
    const lane = (table: HistoryTable, stored: (rows: readonly HistoryRow[]) => void, refused: RefusedRows) =>
      new BatchLane(
        table,
        inserter,
        spill,
        options,
        {
          stored,
          // Only message rows are reported ('report'); the others' lanes spill refused rows themselves.
          invalid: (row, reason) => (refused === 'report' ? this.rejected(row, reason) : this.lostRows([row], reason)),
          spilled: (rows, reason) => this.spilledRows(rows, reason),
          lost: (rows, reason) => this.lostRows(rows, reason),
          error: (message) => log.warn('history insert failed', { sink: name, table, error: message }),
        },
        refused,
      );
    this.messages = lane(
      MESSAGES_TABLE,
      (rows) => {
        this.counts.stored += rows.length;
        this.lastWriteAt = new Date().toISOString();
      },
      'report',
    );
    // A dead letter or a name the store refuses has nowhere better to go than the spill (or the log).
    this.deadLetters = lane(DEAD_LETTERS_TABLE, (rows) => (this.counts.deadLettersStored += rows.length), 'spill');
    this.names = lane(NAMES_TABLE, (rows) => (this.counts.namesStored += rows.length), 'spill');
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.inserter.connect();
    await this.spill?.connect();
    this.messages.start();
    this.deadLetters.start();
    this.names.start();
    this.connected = true;
  }

  write(envelope: Envelope): Promise<void> {
    return this.messages.add(messageRow(envelope));
  }

  writeNow(envelope: Envelope): Promise<void> | undefined {
    return this.messages.addNow(messageRow(envelope));
  }

  writeDeadLetter(deadLetter: DeadLetter): Promise<void> {
    return this.deadLetters.add(deadLetterRow(deadLetter));
  }

  /** The card's names that are new or changed since the last card this sink wrote. */
  async writeDayCard(card: DayCard): Promise<void> {
    const rows = dayCardNameRows(card).filter((n) => this.lastNames.get(n.key) !== n.content);
    if (this.lastNames.size + rows.length > NAMES_REMEMBERED) this.lastNames.clear();
    for (const n of rows) this.lastNames.set(n.key, n.content);
    await Promise.all(rows.map((n) => this.names.add(n.row)));
  }

  async flush(): Promise<void> {
    await this.messages.flush();
    await this.names.flush();
    await this.deadLetters.flush();
  }

  /**
   * Messages first (85% of the time), then names (5%): their refused rows
   * still need the dead-letter lane, which gets the rest. Within `timeoutMs`
   * (closeTimeoutMs unless the caller has more) whatever the stores do. The
   * messages hold nearly every row at a shutdown; names are one day card's
   * worth and dead letters a few, and the time a lane does not need is not
   * handed on, so a larger reserve for them only spilled messages early.
   */
  async close(timeoutMs = this.options.closeTimeoutMs): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const deadline = Date.now() + timeoutMs;
    await this.messages.close(Math.floor(timeoutMs * 0.85));
    await this.names.close(Math.max(1, Math.floor(timeoutMs * 0.05)));
    await this.deadLetters.close(Math.max(1, deadline - Date.now()));
    await this.spill?.close().catch((err: Error) => log.warn('history spill close failed', { error: err.message }));
    await this.inserter.close();
  }

  status(): BatchingHistoryStatus {
    const lanes = [this.messages, this.deadLetters, this.names];
    const backlogs = lanes.map((l) => l.backlog());
    const total = (k: 'rows' | 'bytes' | 'waitingWriters') => backlogs.reduce((n, b) => n + b[k], 0);
    const last = lanes.filter((l) => l.lastErrorAt !== null).sort((a, b) => b.lastErrorAt! - a.lastErrorAt!)[0];
    const failing = lanes.map((l) => l.failingSince).filter((t): t is number => t !== null);
    return {
      sink: this.name,
      backlog: total('rows'),
      backlogBytes: total('bytes'),
      waitingWriters: total('waitingWriters'),
      stored: this.counts.stored,
      deadLettered: this.counts.deadLettered,
      deadLettersStored: this.counts.deadLettersStored,
      namesStored: this.counts.namesStored,
      spilled: this.counts.spilled,
      lost: this.counts.lost,
      insertAttempts: lanes.reduce((n, l) => n + l.attempts, 0),
      retries: lanes.reduce((n, l) => n + l.retries, 0),
      failingSince: failing.length ? new Date(Math.min(...failing)).toISOString() : null,
      spillTarget: this.spill?.name ?? null,
      lastError: last?.lastError ?? null,
      lastErrorAt: last?.lastErrorAt ? new Date(last.lastErrorAt).toISOString() : null,
      lastWriteAt: this.lastWriteAt,
    };
  }

  private rejected(row: HistoryRow, reason: string): void {
    this.counts.deadLettered++;
    log.warn('history row refused; dead-lettered', { table: row.table, insertId: row.insertId, reason });
    this.deadLetters.add(rejectedRowDeadLetter(row, reason), true).catch((err) => {
      this.lostRows([row], `refused (${reason}) and the dead-letter lane is closed: ${String(err)}`);
    });
  }

  private spilledRows(rows: readonly HistoryRow[], reason: string): void {
    this.counts.spilled += rows.length;
    log.warn('history rows spilled', { sink: this.name, spill: this.spill?.name, rows: rows.length, reason });
  }

  /** The last resort: the row itself in the log, where it can still be recovered from. */
  private lostRows(rows: readonly HistoryRow[], reason: string): void {
    this.counts.lost += rows.length;
    for (const r of rows) {
      log.error('history row not stored; kept in this log line', { table: r.table, insertId: r.insertId, reason, row: r.json });
    }
  }
}
