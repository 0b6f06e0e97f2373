import { createReadStream } from 'node:fs';
import { appendFile, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ReplayBatch, ReplaySource } from '../replay.js';
import type { HistoryRow } from '../rows.js';
import { fromSpillRecord } from './spill.js';

/**
 * Reads a JSONL spill file for replay. The file is first renamed aside
 * (<file>.replaying-<time>), so a running pipeline spilling meanwhile starts
 * a fresh file; it is read line by line (memory stays flat however large it
 * grew). Lines not stored (store failing, unreadable) go back into the spill
 * file at close. A replay that crashed leaves its .replaying- file, which the
 * next replay reads first: rows stored twice are dropped by their ids.
 */
export class FileSpillSource implements ReplaySource {
  readonly name: string;
  private files: string[] | null = null;
  private lines: AsyncIterator<string> | null = null;
  private current: string | null = null;
  private readonly pendingLines = new Map<HistoryRow, string>();

  constructor(readonly path: string) {
    this.name = `file:${path}`;
  }

  private async open(): Promise<void> {
    const dir = dirname(this.path);
    const base = basename(this.path);
    const leftovers = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.startsWith(`${base}.replaying-`)).sort();
    this.files = leftovers.map((f) => join(dir, f));
    const mine = `${this.path}.replaying-${Date.now()}`;
    try {
      await rename(this.path, mine);
      this.files.push(mine);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private async nextLine(): Promise<string | null> {
    if (!this.files) await this.open();
    for (;;) {
      if (this.lines) {
        const r = await this.lines.next();
        if (!r.done) return r.value;
        this.lines = null;
        if (this.current) await unlink(this.current);
        this.current = null;
      }
      const f = this.files!.shift();
      if (!f) return null;
      this.current = f;
      this.lines = createInterface({ input: createReadStream(f), crlfDelay: Infinity })[Symbol.asyncIterator]();
    }
  }

  async next(max: number): Promise<ReplayBatch | null> {
    const rows: HistoryRow[] = [];
    const unreadable: string[] = [];
    while (rows.length < max) {
      const line = await this.nextLine();
      if (line === null) break;
      if (!line.trim()) continue;
      try {
        const row = fromSpillRecord(line);
        rows.push(row);
        this.pendingLines.set(row, line);
      } catch {
        unreadable.push(line);
      }
    }
    if (unreadable.length) await this.putBack(unreadable);
    if (!rows.length && !unreadable.length) return null;
    return {
      rows,
      unreadable: unreadable.length,
      ack: async (done) => {
        for (const r of done) this.pendingLines.delete(r);
      },
      release: async (left) => {
        await this.putBack(left.map((r) => this.pendingLines.get(r)!).filter(Boolean));
        for (const r of left) this.pendingLines.delete(r);
      },
    };
  }

  private async putBack(lines: string[]): Promise<void> {
    if (lines.length) await appendFile(this.path, lines.map((l) => l + '\n').join(''));
  }

  /** What was not read yet goes back to the spill file, then the work files are removed. */
  async close(): Promise<void> {
    const rest: string[] = [];
    for (let line = await this.nextLine(); line !== null; line = await this.nextLine()) {
      if (line.trim()) rest.push(line);
      if (rest.length >= 1000) await this.putBack(rest.splice(0));
    }
    await this.putBack(rest);
  }
}
