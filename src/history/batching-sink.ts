import type { DeadLetter, Envelope } from '../envelope/envelope.js';
import { log } from '../log/logger.js';
import type { RowInserter } from './inserter.js';
import { BatchLane, type LaneLimits } from './lane.js';
import { deadLetterRow, messageRow, rejectedRowDeadLetter, type HistoryRow } from './rows.js';
import { DEAD_LETTERS_TABLE, MESSAGES_TABLE } from './schema.js';
import type { HistorySpill } from './spill/spill.js';
import type { HistorySink, HistoryStatus } from './types.js';

export interface BatchingSinkOptions extends LaneLimits {
  closeTimeoutMs: number;
}

/** What /status shows beyond HistoryStatus's common fields. */
export interface BatchingHistoryStatus extends HistoryStatus {
  readonly backlogBytes: number;
  /** write() calls waiting for room in the buffer (backpressure). */
  readonly waitingWriters: number;
  readonly deadLettersStored: number;
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
export class BatchingHistorySink implements HistorySink {
  private readonly messages: BatchLane;
  private readonly deadLetters: BatchLane;
  private counts = { stored: 0, deadLettered: 0, deadLettersStored: 0, spilled: 0, lost: 0 };
  private lastWriteAt: string | null = null;
  private connected = false;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly inserter: RowInserter,
    private readonly spill: HistorySpill | null,
    private readonly options: BatchingSinkOptions,
  ) {
    this.messages = new BatchLane(MESSAGES_TABLE, inserter, spill, options, {
      stored: (rows) => {
        this.counts.stored += rows.length;
        this.lastWriteAt = new Date().toISOString();
      },
      invalid: (row, reason) => this.rejected(row, reason),
      spilled: (rows, reason) => this.spilledRows(rows, reason),
      lost: (rows, reason) => this.lostRows(rows, reason),
      error: (message) => log.warn('history insert failed', { sink: name, table: MESSAGES_TABLE, error: message }),
    });
    this.deadLetters = new BatchLane(DEAD_LETTERS_TABLE, inserter, spill, options, {
      stored: (rows) => {
        this.counts.deadLettersStored += rows.length;
      },
      // A dead letter the store refuses has nowhere better to go than the spill or the log.
      invalid: (row, reason) => void this.parkRefusedDeadLetter(row, reason),
      spilled: (rows, reason) => this.spilledRows(rows, reason),
      lost: (rows, reason) => this.lostRows(rows, reason),
      error: (message) => log.warn('history insert failed', { sink: name, table: DEAD_LETTERS_TABLE, error: message }),
    });
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.inserter.connect();
    await this.spill?.connect();
    this.messages.start();
    this.deadLetters.start();
    this.connected = true;
  }

  write(envelope: Envelope): Promise<void> {
    return this.messages.add(messageRow(envelope));
  }

  writeDeadLetter(deadLetter: DeadLetter): Promise<void> {
    return this.deadLetters.add(deadLetterRow(deadLetter));
  }

  async flush(): Promise<void> {
    await this.messages.flush();
    await this.deadLetters.flush();
  }

  /**
   * Messages first (three quarters of the time): their refused rows still
   * need the dead-letter lane, which gets the rest. Within closeTimeoutMs
   * whatever the stores do.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const deadline = Date.now() + this.options.closeTimeoutMs;
    await this.messages.close(Math.floor(this.options.closeTimeoutMs * 0.75));
    await this.deadLetters.close(Math.max(1, deadline - Date.now()));
    await this.spill?.close().catch((err: Error) => log.warn('history spill close failed', { error: err.message }));
    await this.inserter.close();
  }

  status(): BatchingHistoryStatus {
    const m = this.messages.backlog();
    const d = this.deadLetters.backlog();
    const lanes = [this.messages, this.deadLetters];
    const last = lanes.filter((l) => l.lastErrorAt !== null).sort((a, b) => b.lastErrorAt! - a.lastErrorAt!)[0];
    const failing = lanes.map((l) => l.failingSince).filter((t): t is number => t !== null);
    return {
      sink: this.name,
      backlog: m.rows + d.rows,
      backlogBytes: m.bytes + d.bytes,
      waitingWriters: m.waitingWriters + d.waitingWriters,
      stored: this.counts.stored,
      deadLettered: this.counts.deadLettered,
      deadLettersStored: this.counts.deadLettersStored,
      spilled: this.counts.spilled,
      lost: this.counts.lost,
      insertAttempts: this.messages.attempts + this.deadLetters.attempts,
      retries: this.messages.retries + this.deadLetters.retries,
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

  private async parkRefusedDeadLetter(row: HistoryRow, reason: string): Promise<void> {
    const why = `dead-letter table refused the row: ${reason}`;
    if (this.spill) {
      try {
        await this.spill.spill([row], why);
        this.spilledRows([row], why);
        return;
      } catch (err) {
        log.error('history spill failed', { error: String(err) });
      }
    }
    this.lostRows([row], why);
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
