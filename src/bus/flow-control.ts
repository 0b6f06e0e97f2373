/**
 * Publisher flow control as explicit accounting: `acquire` waits while the
 * outstanding messages or bytes are at their limit, `release` gives the room
 * back when Pub/Sub has answered. The client library leaves publisher flow
 * control off by default, which lets memory grow without bound while Pub/Sub
 * is slow.
 *
 * Waiters are served first-come first-served. Their number is bounded by the
 * subscriber core, which stops reading from Tote (pauses the socket) past its
 * own in-flight limit, so this queue never grows with the outage's length.
 * A single message larger than `maxBytes` is let through alone rather than
 * deadlocking.
 */
export class FlowControl {
  private messages = 0;
  private bytes = 0;
  private readonly waiters: { bytes: number; resolve: () => void }[] = [];

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    if (maxMessages < 1 || maxBytes < 1) throw new RangeError('flow control limits must be at least 1');
  }

  private fits(bytes: number): boolean {
    if (this.messages === 0) return true;
    return this.messages + 1 <= this.maxMessages && this.bytes + bytes <= this.maxBytes;
  }

  /** Takes room at once when there is some and nobody waits; false otherwise (then `acquire`). */
  tryAcquire(bytes: number): boolean {
    if (this.waiters.length !== 0 || !this.fits(bytes)) return false;
    this.messages++;
    this.bytes += bytes;
    return true;
  }

  acquire(bytes: number): Promise<void> {
    if (this.tryAcquire(bytes)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ bytes, resolve }));
  }

  release(bytes: number): void {
    this.messages = Math.max(0, this.messages - 1);
    this.bytes = Math.max(0, this.bytes - bytes);
    while (this.waiters.length && this.fits(this.waiters[0]!.bytes)) {
      const w = this.waiters.shift()!;
      this.messages++;
      this.bytes += w.bytes;
      w.resolve();
    }
  }

  /** At close: every waiter goes ahead, so nothing stays parked here behind a bus that will not answer. */
  openAll(): void {
    for (const w of this.waiters.splice(0)) {
      this.messages++;
      this.bytes += w.bytes;
      w.resolve();
    }
  }

  outstanding(): { messages: number; bytes: number; waiting: number } {
    return { messages: this.messages, bytes: this.bytes, waiting: this.waiters.length };
  }
}
