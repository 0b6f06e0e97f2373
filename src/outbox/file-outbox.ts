import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutgoingMessage } from '../bus/retry-lanes.js';
import { batchName, decodeBatch, encodeBatch } from './batch.js';
import type { Outbox, OutboxBatch } from './types.js';

/** The local outbox: one file per shutdown in a folder, renamed into place when complete. */
export class FileOutbox implements Outbox {
  readonly target: string;
  constructor(
    private readonly dir: string,
    private readonly instanceId: string,
  ) {
    this.target = `file:${dir}`;
  }

  async write(messages: readonly OutgoingMessage[]): Promise<void> {
    if (!messages.length) return;
    await mkdir(this.dir, { recursive: true });
    const name = batchName(this.instanceId);
    const tmp = join(this.dir, `.${name}.tmp`);
    await writeFile(tmp, encodeBatch(messages));
    await rename(tmp, join(this.dir, name));
  }

  async pending(): Promise<OutboxBatch[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.jsonl') && !n.startsWith('.')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const batches: OutboxBatch[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      batches.push({ name, messages: decodeBatch(await readFile(path, 'utf8')), done: () => rm(path, { force: true }) });
    }
    return batches;
  }
}
