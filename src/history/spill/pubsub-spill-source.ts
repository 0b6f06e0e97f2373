import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import type { ReplayBatch, ReplaySource } from '../replay.js';
import type { HistoryRow } from '../rows.js';
import { fromSpillRecord } from './spill.js';

/**
 * Drains the spill subscription: streaming pull with flow control (at most
 * one batch outstanding), a batch once `max` rows arrived or nothing came for
 * `idleMs`, the source drained when a wait ends empty. The quiet clock
 * restarts when a batch is settled: until then flow control holds the next
 * rows back, so a slow store must not read as an empty subscription. Rows are acked only
 * after the store has them; rows released (store failing) or unreadable stay
 * unacked and return to the subscription when the replay closes.
 */
export class PubsubSpillSource implements ReplaySource {
  readonly name: string;
  private subscription: Subscription | null = null;
  private buffer: Message[] = [];
  private lastArrival = Date.now();
  private error: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly messages = new Map<HistoryRow, Message>();

  constructor(
    private readonly pubsub: PubSub,
    readonly subscriptionName: string,
    private readonly idleMs: number,
    private readonly maxOutstanding: number,
  ) {
    this.name = `pubsub:${subscriptionName}`;
  }

  private start(): void {
    if (this.subscription) return;
    this.subscription = this.pubsub.subscription(this.subscriptionName, {
      flowControl: { maxMessages: this.maxOutstanding, allowExcessMessages: false },
    });
    this.subscription.on('message', (m: Message) => {
      this.buffer.push(m);
      this.lastArrival = Date.now();
      this.wake?.();
    });
    this.subscription.on('error', (err: Error) => {
      this.error = err;
      this.wake?.();
    });
    this.lastArrival = Date.now();
  }

  async next(max: number): Promise<ReplayBatch | null> {
    this.start();
    while (this.buffer.length < max && !this.error) {
      const quiet = Date.now() - this.lastArrival;
      if (quiet >= this.idleMs) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.idleMs - quiet);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    if (this.error) throw this.error;
    const taken = this.buffer.splice(0, max);
    if (!taken.length) return null;
    const rows: HistoryRow[] = [];
    let unreadable = 0;
    for (const m of taken) {
      try {
        const row = fromSpillRecord(m.data.toString('utf8'));
        rows.push(row);
        this.messages.set(row, m);
      } catch {
        unreadable++;
      }
    }
    return {
      rows,
      unreadable,
      ack: async (done) => {
        await Promise.all(done.map((r) => this.messages.get(r)?.ackWithResponse()));
        for (const r of done) this.messages.delete(r);
        this.lastArrival = Date.now();
      },
      release: async (left) => {
        for (const r of left) this.messages.delete(r);
        this.lastArrival = Date.now();
      },
    };
  }

  async close(): Promise<void> {
    await this.subscription?.close();
    this.subscription = null;
  }
}
