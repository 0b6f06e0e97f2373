import type { OutgoingMessage } from '../bus/retry-lanes.js';

/** One batch written at a shutdown, read back at the next start. */
export interface OutboxBatch {
  readonly name: string;
  readonly messages: OutgoingMessage[];
  /** Removes the batch once every message in it is published. */
  done(): Promise<void>;
}

/**
 * Where messages the bus had not confirmed at shutdown are kept until the
 * next start publishes them. A batch is written whole or not at all (a
 * temporary name renamed, or one object upload), so a reader never sees half.
 */
export interface Outbox {
  readonly target: string;
  write(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Batches left by earlier shutdowns, oldest first. */
  pending(): Promise<OutboxBatch[]>;
}
