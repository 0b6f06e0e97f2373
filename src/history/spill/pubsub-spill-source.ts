import { v1, type PubSub } from '@google-cloud/pubsub';
import type { ReplayBatch, ReplaySource } from '../replay.js';
import type { HistoryRow } from '../rows.js';
import { fromSpillRecord } from './spill.js';

/**
 * The lease the replay holds on rows it pulled and has not settled yet,
 * renewed every third of it. The subscription's own deadline (60 s in the
 * stack, 120 s on the emulator) only covers the first renewal; a store
 * retrying for minutes must not let its rows go back to the subscription
 * meanwhile, or a second reader would take them.
 */
const LEASE_SECONDS = 60;
const RENEW_EVERY_MS = (LEASE_SECONDS * 1000) / 3;
/** Ack ids per acknowledge or modifyAckDeadline request: well under the 512 KB request limit. */
const IDS_PER_REQUEST = 1_000;
/** A pull's answer may be late on a loaded machine; giving up earlier would strand what it carries (leased to a call nobody reads). */
const PULL_TIMEOUT_MS = 60_000;

export interface PubsubSpillSourceOptions {
  /** The pause between two empty answers, and so the least time the subscription must look empty before the replay ends. */
  idleMs: number;
  /** Rows per pull (the replay's batch). */
  maxMessages: number;
  /**
   * Empty answers in a row, `idleMs` apart, that count as drained. Real
   * Pub/Sub may answer an immediate pull with nothing while a backlog exists;
   * a second answer after a pause is the confirmation.
   * @default 2
   */
  confirmations?: number;
  /**
   * Rows the run may keep leased without storing them (refused again, or
   * unreadable); past it the run ends and reports them as left in the source.
   * @default 10000
   */
  maxHeld?: number;
}

/**
 * Drains the spill subscription with synchronous pulls. The subscription
 * counts as drained only when Pub/Sub itself answers "nothing to deliver"
 * several times in a row (`confirmations`, `idleMs` apart) while this replay
 * holds nothing unsettled: an empty answer is the service's statement, so a
 * slow machine or a slow service can only delay it, never invent it. (A
 * streaming pull cannot give that: a quiet stream on a starved process looks
 * the same as an empty subscription, and rows already pushed to it are leased
 * and invisible to any confirming pull.) Pulls return at once
 * (returnImmediately) so that the client never abandons a call the service
 * has answered with rows. Rows are acked only after the store has them; rows
 * released (store failing, refused) or unreadable stay leased until the replay
 * closes, so this run does not read them again, and are then handed back at
 * once (deadline 0). Rows leased by another reader (a replay running
 * elsewhere, or one that crashed, until its lease runs out) are not
 * deliverable and so not seen by this run.
 */
export class PubsubSpillSource implements ReplaySource {
  readonly name: string;
  private client: v1.SubscriberClient | null = null;
  private path = '';
  private readonly confirmations: number;
  private readonly maxHeld: number;
  /** Rows handed out and not yet acked, by row: their ack ids. */
  private readonly pending = new Map<HistoryRow, string>();
  /** Ack ids this run keeps leased until it closes: released and unreadable rows. */
  private readonly held = new Set<string>();
  private renewal: NodeJS.Timeout | null = null;
  private renewing: Promise<void> = Promise.resolve();
  private renewError: Error | null = null;

  constructor(
    private readonly pubsub: PubSub,
    readonly subscriptionName: string,
    private readonly o: PubsubSpillSourceOptions,
  ) {
    this.name = `pubsub:${subscriptionName}`;
    this.confirmations = o.confirmations ?? 2;
    this.maxHeld = o.maxHeld ?? 10_000;
  }

  private async start(): Promise<v1.SubscriberClient> {
    if (this.client) return this.client;
    // The same endpoint, credentials and project as the PubSub client (the emulator's, in tests); gRPC ports are numbers.
    const { port, ...config } = await this.pubsub.getClientConfig();
    const client = new v1.SubscriberClient({ ...config, ...(port === undefined ? {} : { port: Number(port) }) });
    this.path = client.subscriptionPath(this.pubsub.projectId, this.subscriptionName);
    this.client = client;
    this.renewal = setInterval(() => {
      this.renewing = this.renew();
    }, RENEW_EVERY_MS);
    this.renewal.unref();
    return client;
  }

  private leased(): string[] {
    return [...this.pending.values(), ...this.held];
  }

  private async renew(): Promise<void> {
    try {
      await this.modAck(this.leased(), LEASE_SECONDS);
    } catch (err) {
      // Reported by the next pull: a replay whose leases lapse would share its rows with another reader.
      this.renewError = err instanceof Error ? err : new Error(String(err));
    }
  }

  private async modAck(ids: readonly string[], seconds: number): Promise<void> {
    for (let i = 0; i < ids.length; i += IDS_PER_REQUEST) {
      await this.client!.modifyAckDeadline({
        subscription: this.path,
        ackIds: ids.slice(i, i + IDS_PER_REQUEST),
        ackDeadlineSeconds: seconds,
      });
    }
  }

  async next(max: number): Promise<ReplayBatch | null> {
    const client = await this.start();
    if (this.held.size >= this.maxHeld) return null;
    let empty = 0;
    for (;;) {
      if (this.renewError) throw this.renewError;
      const [res] = await client.pull(
        { subscription: this.path, maxMessages: Math.min(max, this.o.maxMessages), returnImmediately: true },
        { timeout: PULL_TIMEOUT_MS },
      );
      const received = res.receivedMessages ?? [];
      if (received.length) return this.batch(received);
      // Nothing deliverable: drained once Pub/Sub has said so often enough, idleMs apart.
      if (++empty >= this.confirmations) return null;
      await new Promise((r) => setTimeout(r, this.o.idleMs));
    }
  }

  private batch(received: readonly { ackId?: string | null; message?: { data?: Uint8Array | string | null } | null }[]): ReplayBatch {
    const rows: HistoryRow[] = [];
    let unreadable = 0;
    for (const m of received) {
      const ackId = m.ackId ?? '';
      try {
        // gRPC carries bytes as a Buffer; the REST fallback as base64 text.
        const data = m.message?.data ?? '';
        const row = fromSpillRecord(
          typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : Buffer.from(data).toString('utf8'),
        );
        rows.push(row);
        this.pending.set(row, ackId);
      } catch {
        unreadable++;
        this.held.add(ackId);
      }
    }
    return {
      rows,
      unreadable,
      ack: async (done) => {
        const ids = done.map((r) => this.pending.get(r)).filter((id): id is string => id !== undefined);
        for (let i = 0; i < ids.length; i += IDS_PER_REQUEST) {
          await this.client!.acknowledge({ subscription: this.path, ackIds: ids.slice(i, i + IDS_PER_REQUEST) });
        }
        for (const r of done) this.pending.delete(r);
      },
      release: (left) => {
        // Kept leased, not handed back: this run would only pull them again.
        for (const r of left) {
          const id = this.pending.get(r);
          if (id === undefined) continue;
          this.pending.delete(r);
          this.held.add(id);
        }
        return Promise.resolve();
      },
    };
  }

  async close(): Promise<void> {
    if (this.renewal) clearInterval(this.renewal);
    this.renewal = null;
    const client = this.client;
    if (!client) return;
    await this.renewing;
    try {
      // Handed back now rather than when the lease runs out, so the next replay sees them at once.
      await this.modAck(this.leased(), 0);
    } finally {
      this.pending.clear();
      this.held.clear();
      this.client = null;
      await client.close();
      await this.pubsub.close();
    }
  }
}
