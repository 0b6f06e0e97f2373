/**
 * Fan-out from "a message for root field X" to every operation subscribed to
 * X, on either protocol. Each operation reads through its own bounded queue:
 * graphql-js pulls from it as fast as the socket takes the results.
 *
 * At the limit (a client that stops reading while messages keep coming) the
 * operation ends and its owner is told, which disconnects that client: a slow
 * consumer must not grow the simulator's memory.
 */
export type Payload = Record<string, unknown>;

/** Queued messages per operation before its client counts as too slow. */
export const OPERATION_QUEUE_LIMIT = 10_000;

export class Channel implements AsyncIterableIterator<Payload> {
  private readonly queue: Payload[] = [];
  private waiting: ((r: IteratorResult<Payload>) => void) | undefined;
  private ended = false;

  constructor(
    private readonly limit: number,
    private readonly onOverflow: () => void,
    private readonly onEnd: () => void,
  ) {}

  /** False when the message could not be queued (ended, or over the limit). */
  push(payload: Payload): boolean {
    if (this.ended) return false;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: payload, done: false });
      return true;
    }
    if (this.queue.length >= this.limit) {
      this.end();
      this.onOverflow();
      return false;
    }
    this.queue.push(payload);
    return true;
  }

  next(): Promise<IteratorResult<Payload>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<Payload>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(err?: unknown): Promise<IteratorResult<Payload>> {
    this.end();
    return Promise.reject(err);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue.length = 0;
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
    this.onEnd();
  }
}

export class FieldHub {
  private readonly byField = new Map<string, Set<Channel>>();

  open(rootField: string, onOverflow: () => void): Channel {
    let set = this.byField.get(rootField);
    if (!set) this.byField.set(rootField, (set = new Set()));
    const owner = set;
    const channel: Channel = new Channel(OPERATION_QUEUE_LIMIT, onOverflow, () => owner.delete(channel));
    owner.add(channel);
    return channel;
  }

  /** Returns how many operations the message was queued for. */
  publish(rootField: string, payload: Payload): number {
    const set = this.byField.get(rootField);
    if (!set) return 0;
    let n = 0;
    for (const channel of [...set]) if (channel.push(payload)) n++;
    return n;
  }

  /** Ends every operation on `rootField` (the server completes them); returns how many. */
  complete(rootField: string): number {
    const set = this.byField.get(rootField);
    if (!set) return 0;
    const all = [...set];
    for (const c of all) c.end();
    return all.length;
  }

  operations(rootField?: string): number {
    if (rootField) return this.byField.get(rootField)?.size ?? 0;
    let n = 0;
    for (const set of this.byField.values()) n += set.size;
    return n;
  }
}
