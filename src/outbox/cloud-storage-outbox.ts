import type { OutgoingMessage } from '../bus/retry-lanes.js';
import type { CloudStorageObjects } from '../cloud-storage/objects.js';
import { batchName, decodeBatch, encodeBatch } from './batch.js';
import type { Outbox, OutboxBatch } from './types.js';

/**
 * The cloud outbox: one object per shutdown under a prefix beside the lease.
 * Cloud Run's disk is memory and goes with the instance; a bucket outlives
 * it and is readable by the next instance, whichever it is.
 */
export class CloudStorageOutbox implements Outbox {
  readonly target: string;
  constructor(
    private readonly objects: CloudStorageObjects,
    private readonly prefix: string,
    private readonly instanceId: string,
  ) {
    this.target = `gs://${objects.bucket}/${prefix}`;
  }

  async write(messages: readonly OutgoingMessage[]): Promise<void> {
    if (!messages.length) return;
    const name = this.prefix + batchName(this.instanceId);
    if ((await this.objects.write(name, encodeBatch(messages), '0')) === null) throw new Error(`outbox object ${name} already exists`);
  }

  async pending(): Promise<OutboxBatch[]> {
    const batches: OutboxBatch[] = [];
    for (const name of await this.objects.list(this.prefix)) {
      const obj = await this.objects.read(name);
      if (!obj) continue;
      batches.push({
        name,
        messages: decodeBatch(obj.text),
        done: async () => {
          await this.objects.delete(name, obj.generation);
        },
      });
    }
    return batches;
  }
}
