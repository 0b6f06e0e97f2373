import type { DeadLetter, Envelope } from '../envelope/envelope.js';
import type { HistorySink, HistoryStatus } from './types.js';

/**
 * HISTORY=none: keeps nothing, but counts what it was handed, so /status
 * still shows that history is off rather than silently empty.
 */
export class NoneHistorySink implements HistorySink {
  readonly name = 'none';
  private discarded = 0;
  private deadLettersDiscarded = 0;
  private lastWriteAt: string | null = null;

  async connect(): Promise<void> {}

  async write(_envelope: Envelope): Promise<void> {
    this.discarded++;
    this.lastWriteAt = new Date().toISOString();
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
      lastWriteAt: this.lastWriteAt,
    };
  }
}
