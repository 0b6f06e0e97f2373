import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import type { LeaseRecord, LeaseStore } from './lease-store.js';

export type LeaseState = 'idle' | 'acquiring' | 'standby' | 'held' | 'fenced';

export interface LeaseOptions {
  store: LeaseStore;
  /** This instance's id, written into the record. */
  holder: string;
  /** How long a record stays valid without renewal. */
  ttlMs: number;
  /** How often the holder renews; must leave room for two tries inside the TTL. */
  renewMs: number;
  /** How often a standby looks at the record. */
  pollMs: number;
  /**
   * Extra wait past another holder's expiry before taking over, for clock
   * differences between instances (Cloud Run's are NTP-synchronised).
   * @default 1000
   */
  skewMs?: number;
  log: Logger;
  /** The lease is ours: connect. */
  onAcquired(): void;
  /** The lease is no longer ours (taken, or not renewed in time): stop consuming at once. */
  onLost(reason: string): void;
  now?: () => number;
}

export interface LeaseStatus {
  target: string;
  state: LeaseState;
  /** This instance. */
  instance: string;
  /** Who holds it as last seen (this instance when held). */
  holder: string | null;
  expiresAt: string | null;
  lastError: string | null;
  acquisitions: number;
}

/**
 * A lease on the Tote connection, so that one instance in a fleet holds it.
 * The holder renews well before expiry and, if it cannot renew in time,
 * stops consuming before the record expires (fencing), so a standby that
 * takes over after expiry never overlaps it. Every change is a
 * compare-and-swap on the store, so two instances cannot both win.
 */
export class Lease {
  private state: LeaseState = 'idle';
  private wanted = false;
  private generation: string | null = null;
  private token = '';
  private acquiredAt = '';
  private expiresAt = 0;
  private seenHolder: string | null = null;
  private seenExpiry: string | null = null;
  private lastError: string | null = null;
  private acquisitions = 0;
  private timer: NodeJS.Timeout | null = null;
  private step: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly skewMs: number;

  constructor(private readonly o: LeaseOptions) {
    if (o.renewMs * 2 >= o.ttlMs) throw new RangeError('lease renewal must be under half its TTL');
    this.now = o.now ?? Date.now;
    this.skewMs = o.skewMs ?? 1_000;
  }

  /** Starts trying to hold the lease (again); idempotent. */
  start(): void {
    if (this.wanted) return;
    this.wanted = true;
    if (this.state === 'idle') this.state = 'acquiring';
    this.schedule(0);
  }

  /** Stops trying and releases the lease if held, so a standby can take over at once. */
  async stop(): Promise<void> {
    this.wanted = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.step;
    if (this.state === 'held' && this.generation) {
      try {
        await this.o.store.delete(this.generation);
        this.o.log.info('lease released', { lease: this.o.store.target });
      } catch (err) {
        // It expires by itself; a standby takes over after the TTL instead of at once.
        this.lastError = (err as Error).message;
        this.o.log.warn('lease could not be released; it will expire', { lease: this.o.store.target, error: this.lastError });
      }
    }
    this.generation = null;
    this.state = 'idle';
  }

  held(): boolean {
    return this.state === 'held';
  }

  status(): LeaseStatus {
    const mine = this.state === 'held';
    return {
      target: this.o.store.target,
      state: this.state,
      instance: this.o.holder,
      holder: mine ? this.o.holder : this.seenHolder,
      expiresAt: mine ? new Date(this.expiresAt).toISOString() : this.seenExpiry,
      lastError: this.lastError,
      acquisitions: this.acquisitions,
    };
  }

  private schedule(ms: number): void {
    if (!this.wanted) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.step = this.tick();
    }, ms);
  }

  private async tick(): Promise<void> {
    if (!this.wanted) return;
    try {
      if (this.state === 'held') await this.renew();
      else await this.tryAcquire();
    } catch (err) {
      this.lastError = (err as Error).message;
      this.o.log.warn('lease store unavailable', { lease: this.o.store.target, state: this.state, error: this.lastError });
      if (this.state === 'held' && this.now() + this.o.renewMs >= this.expiresAt) this.fence('could not renew the lease before it expires');
    }
    this.schedule(this.state === 'held' ? this.o.renewMs : this.o.pollMs);
  }

  private record(at: number): LeaseRecord {
    return {
      holder: this.o.holder,
      token: this.token,
      acquiredAt: this.acquiredAt || new Date(at).toISOString(),
      renewedAt: new Date(at).toISOString(),
      expiresAt: new Date(at + this.o.ttlMs).toISOString(),
    };
  }

  private async tryAcquire(): Promise<void> {
    const current = await this.o.store.read();
    const at = this.now();
    if (current) {
      this.seenHolder = current.record.holder;
      this.seenExpiry = current.record.expiresAt;
      const expired = at > Date.parse(current.record.expiresAt) + this.skewMs;
      if (!expired) {
        if (this.state !== 'standby')
          this.o.log.info('lease held by another instance; standing by', {
            lease: this.o.store.target,
            holder: current.record.holder,
            expiresAt: current.record.expiresAt,
          });
        this.state = 'standby';
        return;
      }
      this.o.log.notice('lease expired; taking over', {
        lease: this.o.store.target,
        previousHolder: current.record.holder,
        expiredAt: current.record.expiresAt,
      });
    }
    this.token = randomBytes(8).toString('hex');
    this.acquiredAt = new Date(at).toISOString();
    const generation = await this.o.store.write(this.record(at), current?.generation ?? '0');
    if (!generation) {
      // Another instance won the same race: it holds the lease now.
      this.state = 'standby';
      return;
    }
    this.generation = generation;
    this.expiresAt = at + this.o.ttlMs;
    this.state = 'held';
    this.lastError = null;
    this.acquisitions++;
    this.o.log.notice('lease acquired', {
      lease: this.o.store.target,
      holder: this.o.holder,
      expiresAt: new Date(this.expiresAt).toISOString(),
    });
    // stop() came while this step ran: it releases what was just taken, without connecting.
    if (this.wanted) this.o.onAcquired();
  }

  private async renew(): Promise<void> {
    const at = this.now();
    const generation = await this.o.store.write(this.record(at), this.generation!);
    if (!generation) {
      this.fence('the lease was taken by another instance');
      return;
    }
    this.generation = generation;
    this.expiresAt = at + this.o.ttlMs;
    this.lastError = null;
  }

  private fence(reason: string): void {
    this.state = 'fenced';
    this.generation = null;
    this.o.log.error('lease lost; stopping the Tote connection', { lease: this.o.store.target, reason });
    this.o.onLost(reason);
  }
}
