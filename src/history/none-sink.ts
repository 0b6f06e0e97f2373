import type { DeadLetter, Envelope } from '../envelope/envelope.js';
import type { HistorySink, HistoryStatus, ImmediateHistorySink } from './types.js';

/**
 * HISTORY=none: keeps nothing, but counts what it was handed, so /status
 * still shows that history is off rather than silently empty.
 */
export class NoneHistorySink implements HistorySink, ImmediateHistorySink {
  readonly name = 'none';
  private discarded = 0;
  private deadLettersDiscarded = 0;
  /** Epoch ms, formatted only when /status asks: a Date per message cost more than the rest of this sink. */
  private lastWriteMs: number | null = null;

  async connect(): Promise<void> {}

  async write(envelope: Envelope): Promise<void> {
    this.writeNow(envelope);
  }

  writeNow(_envelope: Envelope): undefined {
    this.discarded++;
    this.lastWriteMs = Date.now();
    return undefined;
  }

  async writeDeadLetter(_deadLetter: DeadLetter): Promise<void> {
    this.deadLettersDiscarded++;
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}

  status(): HistoryStatus & { discarded: number; deadLettersDiscarded: number } {
    return {
      sink: this.name,
      backlog: 0,
      stored: 0,
      deadLettered: 0,
      spilled: 0,
      discarded: this.discarded,
      deadLettersDiscarded: this.deadLettersDiscarded,
      lastError: null,
      lastErrorAt: null,
      lastWriteAt: this.lastWriteMs === null ? null : new Date(this.lastWriteMs).toISOString(),
    };
  }
}
