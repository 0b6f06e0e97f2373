import type { SubscriberConfig } from '../config/subscriber.js';
import { createLeaseStore, Lease, type LeaseStatus } from '../lease/index.js';
import type { Logger } from '../log/logger.js';
import type { ToteClient } from '../tote/client.js';

/**
 * Starts and stops the Tote connection through the lease: with a lease, the
 * client connects only while this instance holds it. A stop closes the
 * socket first and releases the lease only after the bus is flushed, so the
 * next holder's messages for a product cannot overtake this one's backlog.
 * Without a lease (SUBSCRIBER_LEASE=none), start and stop go straight to the
 * client.
 */
export class LeasedConnection {
  private readonly lease: Lease | null;

  constructor(
    private readonly client: ToteClient,
    cfg: SubscriberConfig,
    log: Logger,
  ) {
    const store = createLeaseStore(cfg.lease, cfg.storageEndpoint);
    this.lease = store
      ? new Lease({
          store,
          holder: cfg.instanceId,
          ttlMs: cfg.leaseTtlMs,
          renewMs: cfg.leaseRenewMs,
          pollMs: cfg.leasePollMs,
          log: log.child({ component: 'lease' }),
          onAcquired: () => client.start(),
          onLost: () => void client.stop(),
        })
      : null;
  }

  /** Connect now, or once the lease is ours. */
  start(): void {
    if (this.lease) this.lease.start();
    else this.client.start();
  }

  /** True while a start is wanted: connected, connecting, or waiting for the lease. */
  wanted(): boolean {
    return this.client.status().state !== 'stopped' || (this.lease !== null && this.lease.status().state !== 'idle');
  }

  /** Close the socket; the lease stays ours until release(). */
  disconnect(): Promise<void> {
    return this.client.stop();
  }

  /** Give the lease up (after the flush), so a standby connects at its next look. */
  async release(): Promise<void> {
    await this.lease?.stop();
  }

  status(): LeaseStatus | { state: 'none' } {
    return this.lease?.status() ?? { state: 'none' };
  }
}
