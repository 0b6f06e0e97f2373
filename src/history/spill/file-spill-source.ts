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
  private readonly pendingLines = new Map<HistoryRow, { line: string; file: string }>();
  /** Per work file: rows handed out and not yet acked or put back, and whether it is read to its end. */
  private readonly open_ = new Map<string, { outstanding: number; readToEnd: boolean }>();

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
        if (this.current) {
          this.open_.get(this.current)!.readToEnd = true;
          await this.settle(this.current);
        }
        this.current = null;
      }
      const f = this.files!.shift();
      if (!f) return null;
      this.current = f;
      this.open_.set(f, { outstanding: 0, readToEnd: false });
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
        this.pendingLines.set(row, { line, file: this.current! });
        this.open_.get(this.current!)!.outstanding++;
      } catch {
        unreadable.push(line);
      }
    }
    if (unreadable.length) await this.putBack(unreadable);
    if (!rows.length && !unreadable.length) return null;
    return {
      rows,
      unreadable: unreadable.length,
      ack: (done) => this.resolve(done),
      release: async (left) => {
        await this.putBack(left.map((r) => this.pendingLines.get(r)?.line).filter((l): l is string => l !== undefined));
        await this.resolve(left);
      },
    };
  }

  /** Rows stored or put back: a work file whose every row is resolved can go. */
  private async resolve(rows: readonly HistoryRow[]): Promise<void> {
    const files = new Set<string>();
    for (const r of rows) {
      const p = this.pendingLines.get(r);
      if (!p) continue;
      this.pendingLines.delete(r);
      this.open_.get(p.file)!.outstanding--;
      files.add(p.file);
    }
    for (const f of files) await this.settle(f);
  }

  /**
   * Removes a work file only once it is read to its end and every row read
   * from it is stored or back in the spill file; until then a crash leaves it
   * for the next replay.
   */
  private async settle(file: string): Promise<void> {
    const s = this.open_.get(file);
    if (!s || !s.readToEnd || s.outstanding > 0) return;
    this.open_.delete(file);
    await unlink(file);
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
