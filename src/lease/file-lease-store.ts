import { mkdir, readFile, rename, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseLeaseRecord, type LeaseRecord, type LeaseStore, type StoredLease } from './lease-store.js';

/** A lock older than this was left by a process that died inside the few milliseconds it is held. */
const STALE_LOCK_MS = 5_000;
/** Waiting longer than this for the lock means something is wrong; the caller retries later. */
const LOCK_WAIT_MS = 2_000;

/**
 * The local lease: a JSON file holding the record and a generation number.
 * Each change is made under a lock directory (mkdir is atomic on every local
 * file system) and written by rename, so readers never see half a file.
 * For instances on one machine (or one shared POSIX file system); not for NFS
 * without lock semantics.
 */
export class FileLeaseStore implements LeaseStore {
  readonly target: string;
  private readonly lock: string;

  constructor(private readonly path: string) {
    this.target = `file:${path}`;
    this.lock = `${path}.lock`;
  }

  private async readRaw(): Promise<StoredLease | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const f = JSON.parse(text) as { generation: string; record: unknown };
    if (f.record === null) return null;
    return { generation: String(f.generation), record: parseLeaseRecord(JSON.stringify(f.record)) };
  }

  read(): Promise<StoredLease | null> {
    return this.readRaw();
  }

  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    await mkdir(dirname(this.path), { recursive: true });
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await mkdir(this.lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const age = await stat(this.lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > STALE_LOCK_MS) await rmdir(this.lock).catch(() => undefined);
        else if (Date.now() > deadline) throw new Error(`lease lock ${this.lock} is held`);
        else await new Promise((r) => setTimeout(r, 10));
      }
    }
    try {
      return await fn();
    } finally {
      await rmdir(this.lock).catch(() => undefined);
    }
  }

  /** The generation after the file's current one; a deleted lease keeps counting, so an old generation never comes back. */
  private async nextGeneration(): Promise<{ current: string; next: string }> {
    try {
      const f = JSON.parse(await readFile(this.path, 'utf8')) as { generation: string; record: unknown };
      return { current: f.record === null ? '0' : String(f.generation), next: String(Number(f.generation) + 1) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { current: '0', next: '1' };
      throw err;
    }
  }

  private async put(generation: string, record: LeaseRecord | null): Promise<void> {
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ generation, record }));
    await rename(tmp, this.path);
  }

  write(record: LeaseRecord, ifGeneration: string): Promise<string | null> {
    return this.withLock(async () => {
      const g = await this.nextGeneration();
      if (g.current !== ifGeneration) return null;
      await this.put(g.next, record);
      return g.next;
    });
  }

  delete(ifGeneration: string): Promise<boolean> {
    return this.withLock(async () => {
      const g = await this.nextGeneration();
      if (g.current !== ifGeneration || g.current === '0') return false;
      await this.put(g.next, null);
      return true;
    });
  }
}
