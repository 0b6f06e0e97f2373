import { raceDeadline, settlesBy } from '../deadline/deadline.js';
import { backoffDelay } from '../retry/backoff.js';
import type { RowInserter } from './inserter.js';
import type { HistoryRow, HistoryTable } from './rows.js';
import type { HistorySpill } from './spill/spill.js';

export interface LaneLimits {
  batch: { maxRows: number; maxBytes: number; maxDelayMs: number };
  buffer: { maxRows: number; maxBytes: number };
  retry: { initialMs: number; maxMs: number };
  /** A batch failing for this long goes to the spill instead of being retried further. */
  spillAfterMs: number;
}

export interface LaneEvents {
  stored(rows: readonly HistoryRow[]): void;
  invalid(row: HistoryRow, reason: string): void;
  spilled(rows: readonly HistoryRow[], reason: string): void;
  /** Rows that could be neither stored nor spilled before close: written to the log, the last durable place. */
  lost(rows: readonly HistoryRow[], reason: string): void;
  error(message: string): void;
}

export class HistoryClosedError extends Error {
  constructor(readonly table: HistoryTable) {
    super(`history sink for ${table} is closed`);
    this.name = 'HistoryClosedError';
  }
}

/**
 * Where a lane is in its life. Transitions, and what each one means:
 *
 *   created --start()--> running --close()--> closing --> closed
 *                                                \--(close timed out)--> abandoned --> closed
 *
 * - running: add() takes rows (or waits for room); the pump stores batches.
 * - closing: add() is refused; writers already waiting join the queue; the
 *   pump stores what is left without waiting for batches to fill; failing
 *   batches go to the spill at once instead of after spillAfterMs.
 * - abandoned: close() ran out of time and handed everything still held to
 *   the spill; answers still arriving for those rows are ignored.
 * - closed: the pump has stopped.
 */
export type LaneState = 'created' | 'running' | 'closing' | 'abandoned' | 'closed';

const TRANSITIONS: Readonly<Record<LaneState, readonly LaneState[]>> = {
  created: ['running', 'closing'],
  running: ['closing'],
  closing: ['abandoned', 'closed'],
  abandoned: ['closed'],
  closed: [],
};

/** What happens to rows the store refuses as invalid. */
export type RefusedRows =
  /** Reported through events.invalid (message rows: the sink turns them into dead letters). */
  | 'report'
  /** Spilled by the lane itself, held in its backlog until durable (dead letters and names: nowhere better to go). */
  | 'spill';

/** A write() waiting for room, with its row. */
interface Waiter {
  readonly row: HistoryRow;
  admitted: boolean;
  wake: () => void;
}

/** A wait that one call to wake() cuts short; at most one wait at a time. */
class Alarm {
  private wakeNow: (() => void) | null = null;

  /** `unref`: the wait does not keep the process alive. */
  sleep(ms: number, unref = false): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wakeNow === done) this.wakeNow = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (unref) timer.unref();
      this.wakeNow = done;
    });
  }

  wake(): void {
    this.wakeNow?.();
  }
}

/**
 * One table's way into a store: a bounded buffer, a batcher and the retry,
 * spill and backpressure rules. One batch is in flight at a time: Tote's
 * feed is far below one insertAll per second of 500 rows, and a single
 * request in flight keeps the accounting simple.
 *
 * Limits and what happens at each:
 * - buffer rows/bytes (queued + in flight + being spilled): `add` waits
 *   (backpressure) while the store is healthy but slow. If the store is
 *   failing, the queued rows are spilled at once to make room.
 * - a batch failing for `spillAfterMs`: spilled, so nothing waits in memory
 *   for a long outage and each later batch gets one attempt (which notices
 *   the recovery) before it is spilled too.
 * - no spill configured: rows wait in the buffer and `add` waits: backpressure
 *   only, never a drop.
 * - the spill failing too: the rows stay held and `add` keeps waiting; the
 *   spill is retried with backoff.
 * - `close`: the rows of writers still waiting for room join the queue (one
 *   per waiting writer, already in memory); it tries to store what is left for
 *   `closeTimeoutMs`, then spills it; what cannot be spilled either is written
 *   to the log row by row (lost()). Only add() called after close is refused.
 * - rows forced in (`add(row, true)`, the writer's own dead letters) skip the
 *   limit; there are at most one batch of them per delivered batch.
 */
export class BatchLane {
  private queue: HistoryRow[] = [];
  private queuedBytes = 0;
  /** Rows taken from the queue and not yet resolved (in flight or being spilled). */
  private heldRows = 0;
  private heldBytes = 0;
  private oldestAt: number | null = null;
  /** write() calls waiting for room, with their rows: at close these rows join the queue (stored, spilled or lost). */
  private waiters: Waiter[] = [];
  private idleWaiters: (() => void)[] = [];
  private current: LaneState = 'created';
  /** The pump's wait for rows or for a batch to fill: add(), flush() and close() cut it short. */
  private readonly pumpAlarm = new Alarm();
  /** A retry backoff: only close() cuts it short (new rows must not speed up retries). */
  private readonly backoffAlarm = new Alarm();
  private flushes = 0;
  /** The queue being moved to the spill, when it is (one such move at a time). */
  private queueSpill: Promise<void> | null = null;
  private pumpDone: Promise<void> | null = null;
  private closeDone: Promise<void> | null = null;
  private inFlight: readonly HistoryRow[] = [];
  private beingSpilled = new Set<readonly HistoryRow[]>();
  failingSince: number | null = null;
  lastError: string | null = null;
  lastErrorAt: number | null = null;
  attempts = 0;
  retries = 0;

  constructor(
    readonly table: HistoryTable,
    private readonly inserter: RowInserter,
    private readonly spill: HistorySpill | null,
    private readonly limits: LaneLimits,
    private readonly events: LaneEvents,
    private readonly refused: RefusedRows = 'report',
  ) {}

  get state(): LaneState {
    return this.current;
  }

  private to(next: LaneState): void {
    if (!TRANSITIONS[this.current].includes(next)) throw new Error(`history lane ${this.table}: no way from ${this.current} to ${next}`);
    this.current = next;
  }

  /**
   * close() gave up, or is done: answers still arriving for rows held then
   * are ignored (close has spilled or logged those rows). A getter, because
   * the state changes across awaits.
   */
  private get abandoned(): boolean {
    return this.current === 'abandoned' || this.current === 'closed';
  }

  /** add() is refused from here on. */
  private get closing(): boolean {
    return this.current !== 'created' && this.current !== 'running';
  }

  start(): void {
    if (this.current !== 'created') return;
    this.to('running');
    this.pumpDone = this.pump();
  }

  /** Rows accepted and not yet stored, dead-lettered, spilled or lost. */
  backlog(): { rows: number; bytes: number; waitingWriters: number } {
    return { rows: this.queue.length + this.heldRows, bytes: this.queuedBytes + this.heldBytes, waitingWriters: this.waiters.length };
  }

  private overLimit(extraBytes = 0): boolean {
    const rows = this.queue.length + this.heldRows;
    if (rows === 0) return false;
    return rows + 1 > this.limits.buffer.maxRows || this.queuedBytes + this.heldBytes + extraBytes > this.limits.buffer.maxBytes;
  }

  async add(row: HistoryRow, force = false): Promise<void> {
    if (this.closing) throw new HistoryClosedError(this.table);
    while (!force && !this.closing && this.overLimit(row.bytes)) {
      if (this.failingSince !== null) this.spillQueued('buffer full while the store is failing');
      const waiter: Waiter = { row, admitted: false, wake: () => {} };
      await new Promise<void>((resolve) => {
        waiter.wake = resolve;
        this.waiters.push(waiter);
      });
      // Room or close() took the row into the queue: it is stored, spilled or lost (logged) with the rest.
      if (waiter.admitted) return;
    }
    // Woken just before close gave up on the queue: nowhere left but the log.
    if (this.abandoned) return this.events.lost([row], 'arrived while the sink was closing');
    this.enqueue(row);
  }

  /** add(), without a promise when the row is taken at once (room in the buffer): undefined then, else add()'s promise. */
  addNow(row: HistoryRow): Promise<void> | undefined {
    if (this.closing || this.overLimit(row.bytes)) return this.add(row);
    this.enqueue(row);
    return undefined;
  }

  private enqueue(row: HistoryRow): void {
    this.queue.push(row);
    this.queuedBytes += row.bytes;
    this.oldestAt ??= Date.now();
    this.nudge();
  }

  /** Resolves once every row accepted so far is stored, dead-lettered, spilled or lost. */
  async flush(): Promise<void> {
    this.flushes++;
    this.nudge();
    try {
      await this.idle();
    } finally {
      this.flushes--;
    }
  }

  /**
   * Stores what it can until two thirds of `timeoutMs`, then spills the rest
   * within the last third; a spill that does not answer in time counts the
   * rows as lost (each written to the log). A request still in flight is not
   * waited for: its answer is ignored.
   */
  close(timeoutMs: number): Promise<void> {
    return (this.closeDone ??= this.closeNow(timeoutMs));
  }

  private async closeNow(timeoutMs: number): Promise<void> {
    this.to('closing');
    this.admitWaiters();
    this.nudge();
    this.backoffAlarm.wake();
    const spillMs = Math.floor(timeoutMs / 3);
    const timedOut = !(await settlesBy(this.idle(), Date.now() + timeoutMs - spillMs));
    if (timedOut) await this.abandon(Math.max(1, spillMs));
    this.to('closed');
    this.nudge();
    if (!timedOut) await this.pumpDone;
  }

  private idle(): Promise<void> {
    if (this.backlog().rows === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private nudge(): void {
    this.pumpAlarm.wake();
  }

  /**
   * Room came back: it goes to the writers that have waited longest, as many
   * as it fits, and the others wait on. Waking every writer to race for it
   * cost a wake-up and a new wait per writer per stored batch: with thousands
   * waiting behind a slow store, most of the subscriber's CPU.
   */
  private releaseWaiters(): void {
    let n = 0;
    while (n < this.waiters.length && !this.overLimit(this.waiters[n]!.row.bytes)) this.admit(this.waiters[n++]!);
    if (n) this.waiters.splice(0, n);
  }

  private admit(w: Waiter): void {
    this.enqueue(w.row);
    w.admitted = true;
    w.wake();
  }

  /**
   * At close, rows whose writers wait for room join the queue over the limit
   * (they are in memory already, one per waiting writer), so close stores,
   * spills or logs them like every other row instead of refusing them.
   */
  private admitWaiters(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) this.admit(w);
  }

  private take(rows: number, bytes: number): void {
    this.heldRows += rows;
    this.heldBytes += bytes;
  }

  /** Rows resolved one way or another: give their room back. */
  private release(rows: readonly HistoryRow[]): void {
    if (!rows.length) return;
    this.heldRows -= rows.length;
    for (const r of rows) this.heldBytes -= r.bytes;
    this.releaseWaiters();
    if (this.backlog().rows === 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  private backoff(attempt: number): Promise<void> {
    return this.backoffAlarm.sleep(backoffDelay(attempt, this.limits.retry.initialMs, this.limits.retry.maxMs));
  }

  private batchReady(): boolean {
    const b = this.limits.batch;
    if (this.queue.length >= b.maxRows || this.queuedBytes >= b.maxBytes) return true;
    if (this.flushes > 0 || this.closing) return true;
    return this.oldestAt !== null && Date.now() - this.oldestAt >= b.maxDelayMs;
  }

  private async pump(): Promise<void> {
    while (this.current !== 'closed') {
      if (!this.queue.length) {
        // Nothing due: this wait must not keep the process alive.
        await this.pumpAlarm.sleep(60_000, true);
        continue;
      }
      if (!this.batchReady()) {
        await this.pumpAlarm.sleep(Math.max(1, this.limits.batch.maxDelayMs - (Date.now() - (this.oldestAt ?? Date.now()))));
        continue;
      }
      await this.deliver(this.nextBatch());
    }
  }

  private nextBatch(): HistoryRow[] {
    const { maxRows, maxBytes } = this.limits.batch;
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && n < maxRows) {
      const b = this.queue[n]!.bytes;
      if (n > 0 && bytes + b > maxBytes) break;
      bytes += b;
      n++;
    }
    const batch = this.queue.splice(0, n);
    this.queuedBytes -= bytes;
    this.take(batch.length, bytes);
    // What is left was queued before now: it stays due.
    if (!this.queue.length) this.oldestAt = null;
    return batch;
  }

  private async deliver(batch: readonly HistoryRow[]): Promise<void> {
    let pending = batch;
    let attempt = 0;
    try {
      while (pending.length && !this.abandoned) {
        this.inFlight = pending;
        this.attempts++;
        const out = await this.inserter.insert(this.table, pending);
        if (this.abandoned) return; // close() already spilled these rows
        if (out.stored.length) {
          this.release(out.stored);
          this.events.stored(out.stored);
        }
        for (const { row, reason } of out.invalid) {
          if (this.refused === 'spill') {
            // Through the lane, so flush() and close() wait until it is durable.
            await this.spillRefused(row, `${this.table} refused the row: ${reason}`);
            continue;
          }
          this.release([row]);
          this.events.invalid(row, reason);
        }
        if (!out.retry.length) {
          this.failingSince = null;
          return;
        }
        pending = out.retry;
        this.inFlight = pending;
        this.noteFailure(out.error ?? 'insert failed');
        if (this.shouldSpill()) {
          await this.spillRows(pending, `store failing since ${new Date(this.failingSince!).toISOString()}: ${this.lastError}`);
          return;
        }
        this.retries++;
        await this.backoff(attempt++);
      }
    } finally {
      this.inFlight = [];
    }
  }

  private noteFailure(message: string): void {
    this.failingSince ??= Date.now();
    this.lastError = message;
    this.lastErrorAt = Date.now();
    this.events.error(message);
    if (this.waiters.length || this.overLimit()) this.spillQueued('buffer full while the store is failing');
  }

  private shouldSpill(): boolean {
    if (!this.spill || this.failingSince === null) return false;
    if (this.closing) return true;
    return Date.now() - this.failingSince >= this.limits.spillAfterMs;
  }

  /** Moves every queued row to the spill (one move of the queue at a time; the rows stay in the backlog until spilled). */
  private spillQueued(reason: string): void {
    if (this.queueSpill || !this.spill || !this.queue.length) return;
    const rows = this.queue.splice(0);
    const bytes = this.queuedBytes;
    this.queuedBytes = 0;
    this.oldestAt = null;
    this.take(rows.length, bytes);
    this.queueSpill = this.spillRows(rows, reason).finally(() => {
      this.queueSpill = null;
    });
  }

  /** A refused row with nowhere better to go: the spill, or (no spill) the log. Its room is held until then. */
  private async spillRefused(row: HistoryRow, reason: string): Promise<void> {
    if (!this.spill) {
      this.release([row]);
      this.events.lost([row], reason);
      return;
    }
    await this.spillRows([row], reason);
  }

  /** Spills until it works; the rows stay counted in the buffer meanwhile (so writers keep waiting). */
  private async spillRows(rows: readonly HistoryRow[], reason: string): Promise<void> {
    if (!this.spill) throw new Error('no spill configured');
    this.beingSpilled.add(rows);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.spill.spill(rows, reason);
          if (this.abandoned) return;
          this.release(rows);
          this.events.spilled(rows, reason);
          return;
        } catch (err) {
          if (this.abandoned) return;
          this.noteSpillFailure(err);
          if (this.closing) {
            this.release(rows);
            this.events.lost(rows, `${reason}; spill failed: ${String(err)}`);
            return;
          }
          await this.backoff(attempt);
        }
      }
    } finally {
      this.beingSpilled.delete(rows);
    }
  }

  private noteSpillFailure(err: unknown): void {
    this.lastError = `spill to ${this.spill?.name} failed: ${err instanceof Error ? err.message : String(err)}`;
    this.lastErrorAt = Date.now();
    this.events.error(this.lastError);
  }

  /**
   * close() ran out of time: whatever is still queued or in flight goes to
   * the spill now. A request still in flight may yet succeed: the row is then
   * both stored and spilled, and its replay is dropped by insertId or by the
   * views' dedupe on envelope_id.
   */
  private async abandon(spillMs: number): Promise<void> {
    this.to('abandoned');
    const queued = this.queue.splice(0);
    this.queuedBytes = 0;
    const inFlight = this.inFlight;
    this.inFlight = [];
    // A batch being spilled is also the one in flight: count each row once.
    const byId = new Map<string, HistoryRow>();
    for (const r of [...inFlight, ...[...this.beingSpilled].flat(), ...queued]) byId.set(r.insertId, r);
    const rows = [...byId.values()];
    this.heldRows = 0;
    this.heldBytes = 0;
    const reason = `unstored at close${this.lastError ? ` (${this.lastError})` : ''}`;
    if (rows.length) {
      let spilled = false;
      if (this.spill) {
        try {
          spilled = await raceDeadline(
            this.spill.spill(rows, reason).then(() => true),
            Date.now() + spillMs,
            false,
          );
          if (!spilled) this.noteSpillFailure(new Error(`no answer within ${spillMs} ms`));
        } catch (err) {
          this.noteSpillFailure(err);
        }
      }
      if (spilled) this.events.spilled(rows, reason);
      else this.events.lost(rows, reason);
    }
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }
}
