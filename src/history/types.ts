import type { DeadLetter, Envelope } from '../envelope/envelope.js';
import type { DayCard } from '../day-card/day-card.js';

export interface HistoryStatus {
  readonly sink: string;
  /** Rows accepted by write() and not yet stored, spilled or dead-lettered. */
  readonly backlog: number;
  readonly stored: number;
  readonly deadLettered: number;
  readonly spilled: number;
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  readonly lastWriteAt: string | null;
}

/**
 * Keeps every envelope for analysis: BigQuery in the cloud, DuckDB locally.
 * `write` may wait when the sink's buffer is full (backpressure); it never
 * drops a row silently.
 */
export interface HistorySink {
  readonly name: string;
  connect(): Promise<void>;
  write(envelope: Envelope): Promise<void>;
  writeDeadLetter(deadLetter: DeadLetter): Promise<void>;
  /** Keeps the day card's names (venues, races, runners, products) beside the messages; sinks without a store skip it. */
  writeDayCard?(card: DayCard): Promise<void>;
  flush(): Promise<void>;
  /**
   * Stores what it can and spills the rest within `timeoutMs` (by default
   * HISTORY_CLOSE_TIMEOUT_MS): a shutdown that has time left gives it more.
   */
  close(timeoutMs?: number): Promise<void>;
  status(): HistoryStatus;
}

/**
 * Optional capability of a sink: `write` without a promise when the envelope
 * is taken at once. Returns undefined then, or (the buffer full) the promise
 * `write` would have returned, for the same wait. The subscriber prefers it:
 * a promise and its callbacks per message were a visible share of its CPU.
 * A sink that changes what `write` does must change this too.
 */
export interface ImmediateHistorySink {
  writeNow(envelope: Envelope): Promise<void> | undefined;
}

export function canWriteNow<T extends object>(s: T): s is T & ImmediateHistorySink {
  return typeof (s as Partial<ImmediateHistorySink>).writeNow === 'function';
}
