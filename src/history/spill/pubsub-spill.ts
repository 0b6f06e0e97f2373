import type { PubSub, Topic } from '@google-cloud/pubsub';
import { createPubSub, grpcCode, GrpcStatus } from '../../bus/pubsub-client.js';
import type { HistoryRow } from '../rows.js';
import { toSpillRecord, type HistorySpill } from './spill.js';

export interface PubsubSpillOptions {
  projectId: string;
  topic: string;
  subscription: string;
  emulatorHost?: string | undefined;
  /** Create the topic and the replay subscription when missing (emulator; in the cloud the stack does it). */
  createTopics: boolean;
}

/** A Pub/Sub client for the spill topic, on the emulator when a host is given. */
export function spillPubSub(o: Pick<PubsubSpillOptions, 'projectId' | 'emulatorHost'>): PubSub {
  return createPubSub(o);
}

/**
 * Spills rows to a Pub/Sub topic: it outlives a Cloud Run instance (whose
 * disk is memory), keeps messages 7 days by default, and the replay command
 * drains it through its subscription. One message per row, attributes
 * `table` and `insertId` so the replay can route without parsing.
 */
export class PubsubSpill implements HistorySpill {
  readonly name: string;
  private readonly pubsub: PubSub;
  private readonly topic: Topic;

  constructor(private readonly o: PubsubSpillOptions) {
    this.name = `pubsub:${o.topic}`;
    this.pubsub = spillPubSub(o);
    // Rows arrive here in batches already; publish them as a few requests.
    this.topic = this.pubsub.topic(o.topic, { batching: { maxMessages: 500, maxBytes: 5 * 1024 * 1024, maxMilliseconds: 10 } });
  }

  async connect(): Promise<void> {
    if (!this.o.createTopics) return;
    await ensureTopicAndSubscription(this.pubsub, this.o.topic, this.o.subscription);
  }

  async spill(rows: readonly HistoryRow[], reason: string): Promise<void> {
    const at = new Date();
    await Promise.all(
      rows.map((r) =>
        this.topic.publishMessage({
          data: Buffer.from(JSON.stringify(toSpillRecord(r, reason, at))),
          attributes: { table: r.table, insertId: r.insertId },
        }),
      ),
    );
  }

  async close(): Promise<void> {
    await this.topic.flush().catch(() => {});
    await this.pubsub.close();
  }
}

export async function ensureTopicAndSubscription(pubsub: PubSub, topic: string, subscription: string): Promise<void> {
  try {
    await pubsub.createTopic(topic);
  } catch (err) {
    if (grpcCode(err) !== GrpcStatus.ALREADY_EXISTS) throw err;
  }
  try {
    // A long ack deadline: the replay acks only after BigQuery has the rows.
    await pubsub.topic(topic).createSubscription(subscription, { ackDeadlineSeconds: 120 });
  } catch (err) {
    if (grpcCode(err) !== GrpcStatus.ALREADY_EXISTS) throw err;
  }
}
