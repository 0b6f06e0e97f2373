import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HistoryRow } from '../rows.js';
import { toSpillRecord, type HistorySpill } from './spill.js';

/**
 * Spills rows as JSON lines to a local file: for local runs, where the disk
 * outlives the process. One append per spilled batch; `npm run
 * replay-history -- --source spill-file` reads it back.
 */
export class FileSpill implements HistorySpill {
  readonly name: string;

  constructor(readonly path: string) {
    this.name = `file:${path}`;
  }

  async connect(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
  }

  async spill(rows: readonly HistoryRow[], reason: string): Promise<void> {
    const at = new Date();
    await appendFile(this.path, rows.map((r) => JSON.stringify(toSpillRecord(r, reason, at)) + '\n').join(''));
  }

  async close(): Promise<void> {}
}
