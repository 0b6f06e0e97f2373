import { Duration, type Message, type PubSub, type Subscription, type Topic } from '@google-cloud/pubsub';
import { Gauge, type Registry } from 'prom-client';
import { grpcCode, GrpcStatus } from '../bus/pubsub-client.js';
import type { CatalogEntry } from '../catalog/catalog.js';
import type { ConsumerConfig, FeedWindow } from '../config/sse.js';
import { settlesBy } from '../deadline/deadline.js';
import type { Logger } from '../log/logger.js';
import { seekTarget } from './seek-target.js';
import { subscriptionNameFor } from './subscription-name.js';

const { ALREADY_EXISTS, NOT_FOUND } = GrpcStatus;

/** A protobuf Duration as milliseconds; 0 when absent. */
function durationMs(d: { seconds?: number | string | Long | null; nanos?: number | null } | null | undefined): number {
  if (!d) return 0;
  return Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
}

export class ConsumerStartError extends Error {
  constructor(
    message: string,
    readonly topic: string,
    readonly subscription: string,
    readonly code: number | string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ConsumerStartError';
  }
}

export type SubscriptionState = 'creating' | 'active' | 'error' | 'closed';

/** Outcome of the last seek back: 'done', 'off', 'pending', or the failure's gRPC code. */
export type SeekOutcome = 'done' | 'off' | 'pending' | number | string;

/** One topic's subscription of this instance, as the lifecycle sees it. */
export interface SubscriptionSlot {
  readonly topic: string;
  /** The catalog entry of an envelope topic; undefined for the day-card topic. */
  readonly entry: CatalogEntry | undefined;
  readonly name: string;
  readonly state: SubscriptionState;
  readonly seek: SeekOutcome;
  /** Where the last seek sent the subscription (epoch ms), null before the first or with seeking off. */
  readonly seekTarget: number | null;
  /** When it last became active (created or recreated), epoch ms. */
  readonly activeSince: number;
  /**
   * From when (epoch ms) it holds every message of its topic: the seek
   * target when the seek succeeded and the topic's retention covered it,
   * otherwise `activeSince`.
   */
  readonly completeFrom: number;
  readonly lastError: string | null;
}

interface Slot extends SubscriptionSlot {
  state: SubscriptionState;
  seek: SeekOutcome;
  seekTarget: number | null;
  activeSince: number;
  completeFrom: number;
  lastError: string | null;
  /** Pulling (a listener of its kind is attached). */
  listening: boolean;
  sub: Subscription | undefined;
  reopenTimer: NodeJS.Timeout | undefined;
}

export interface SubscriptionsOptions {
  readonly pubsub: PubSub;
  readonly config: ConsumerConfig;
  readonly instanceId: string;
  readonly feedWindow: FeedWindow;
  /** One subscription per topic: the catalog entries', then the day-card topic's (entry undefined). */
  readonly topics: readonly { topic: string; entry: CatalogEntry | undefined }[];
  readonly log: Logger;
  readonly registry: Registry;
  /** Every message pulled; the receiver acks it. */
  onMessage(slot: SubscriptionSlot, message: Message): void;
  /** A subscription recreated after its stream failed for good: messages in between may be missing. */
  onReopened(slot: SubscriptionSlot): void;
  /**
   * Publish time (epoch ms) of the newest message the slot delivered, or
   * null: a recreated subscription is sought back to it (less a margin)
   * rather than to the start of the day.
   */
  lastPublishedAt(slot: SubscriptionSlot): number | null;
}

/**
 * The lifecycle of this instance's subscriptions, one per topic: created at
 * start (`<prefix>-<instanceId>-<topic>`, minimum retention, a one-day
 * expiration as the backstop for a crash) and sought back; pulled once a
 * listener of their kind exists; recreated when a stream fails for good (the
 * subscription expired or was deleted); deleted at close. What happens to a
 * message once pulled is the delivery's business, not this class's.
 */
export class ConsumerSubscriptions {
  private readonly slotList: Slot[];
  private closing = false;
  readonly counts = { seekFailures: 0, reopened: 0 };

  constructor(private readonly o: SubscriptionsOptions) {
    const c = o.config;
    this.slotList = o.topics.map(({ topic, entry }) => ({
      topic,
      entry,
      name: subscriptionNameFor(c.subscriptionPrefix, o.instanceId, topic),
      listening: false,
      activeSince: 0,
      completeFrom: 0,
      seek: 'pending',
      seekTarget: null,
      sub: undefined,
      state: 'creating',
      lastError: null,
      reopenTimer: undefined,
    }));
    const slots = this.slotList;
    new Gauge({
      name: 'sse_consumer_subscriptions',
      help: "This instance's subscriptions, by state",
      labelNames: ['state'],
      registers: [o.registry],
      collect() {
        this.reset();
        for (const s of ['creating', 'active', 'error', 'closed'] as const) {
          this.set({ state: s }, slots.filter((x) => x.state === s).length);
        }
      },
    });
  }

  get slots(): readonly SubscriptionSlot[] {
    return this.slotList;
  }

  /** Creates the topics when missing (the emulator; in the cloud the stack does it). */
  async ensureTopics(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((n) => this.ensureTopic(n)));
  }

  private async ensureTopic(name: string): Promise<void> {
    try {
      await this.o.pubsub.createTopic(name);
    } catch (err) {
      if (grpcCode(err) !== ALREADY_EXISTS) {
        throw new ConsumerStartError(`could not create topic ${name}: ${(err as Error).message}`, name, '', grpcCode(err), {
          cause: err,
        });
      }
    }
  }

  topic(name: string): Topic {
    return this.o.pubsub.topic(name);
  }

  /** Creates and seeks every subscription; each outcome, so the caller can clean up after a partial failure. */
  createAll(): Promise<PromiseSettledResult<void>[]> {
    return Promise.allSettled(
      this.slotList.map((s) => this.create(s, seekTarget(Date.now(), this.o.config.seekBackMs, this.o.feedWindow))),
    );
  }

  private async create(slot: Slot, target: number): Promise<void> {
    const c = this.o.config;
    const isCards = slot.entry === undefined;
    try {
      await this.o.pubsub.topic(slot.topic).createSubscription(slot.name, {
        ackDeadlineSeconds: c.ackDeadlineSeconds,
        messageRetentionDuration: { seconds: c.messageRetentionSeconds },
        expirationPolicy: { ttl: { seconds: c.expirationTtlSeconds } },
        // Cards are whole replacements compared by fetchedAt: no order needed.
        enableMessageOrdering: c.ordering && !isCards,
        labels: { role: 'sse-broadcast' },
      });
    } catch (err) {
      // A restart with the same instance id finds its own subscription: reuse it.
      if (grpcCode(err) !== ALREADY_EXISTS) {
        slot.state = 'error';
        slot.lastError = (err as Error).message;
        const hint = grpcCode(err) === NOT_FOUND ? ' (topic missing: deploy the infrastructure or set PUBSUB_CREATE_TOPICS)' : '';
        throw new ConsumerStartError(
          `could not create subscription ${slot.name} on ${slot.topic}: ${(err as Error).message}${hint}`,
          slot.topic,
          slot.name,
          grpcCode(err),
          { cause: err },
        );
      }
    }
    const sub = this.o.pubsub.subscription(slot.name, {
      flowControl: { maxMessages: c.maxMessages, maxBytes: c.maxBytes, allowExcessMessages: false },
      streamingOptions: { maxStreams: c.streams },
      // Close within the shutdown budget instead of the client's long default wait for acks in flight.
      closeOptions: { behavior: 'NACK', timeout: Duration.from({ milliseconds: Math.max(100, Math.floor(c.deleteTimeoutMs / 2)) }) },
    });
    slot.sub = sub;
    await this.seek(slot, sub, target);
    const covered = slot.seek === 'done' && (await this.retentionCovers(slot, sub, target));
    slot.activeSince = Date.now();
    slot.completeFrom = covered ? target : slot.activeSince;
    slot.state = 'active';
  }

  /**
   * Whether the seek to `target` replays every message published since: a
   * seek marks what was published after the target unacknowledged, but only
   * what the topic still retains can come back. Pub/Sub states that
   * guarantee on the subscription (topicMessageRetentionDuration: "messages
   * published in the last ... are always available"); the emulator leaves it
   * out and reports only the topic's own retention, with which it replays
   * everything it holds. Without either (a topic keeping nothing) the seek
   * replays nothing, and the subscription is complete only from now. Any
   * failure to tell reads as not covered: resync, never a guess.
   */
  private async retentionCovers(slot: Slot, sub: Subscription, target: number): Promise<boolean> {
    try {
      const [meta] = await sub.getMetadata();
      let retention = durationMs(meta.topicMessageRetentionDuration);
      if (retention === 0) {
        const [topic] = await this.o.pubsub.topic(slot.topic).getMetadata();
        retention = durationMs(topic.messageRetentionDuration);
      }
      return Date.now() - target + this.o.config.clockSkewMs <= retention;
    } catch (err) {
      this.o.log.warn('could not read the retention behind a seek; resume starts from now', {
        subscription: slot.name,
        err,
        code: grpcCode(err),
      });
      return false;
    }
  }

  /** Best effort: a failed seek leaves a subscription that starts now, which completeSince already assumes. */
  private async seek(slot: Slot, sub: Subscription, target: number): Promise<void> {
    if (this.o.config.seekBackMs <= 0) {
      slot.seek = 'off';
      return;
    }
    slot.seekTarget = target;
    try {
      await sub.seek(new Date(target));
      slot.seek = 'done';
    } catch (err) {
      this.counts.seekFailures++;
      slot.seek = grpcCode(err) ?? 'failed';
      this.o.log.warn('could not seek subscription back; it starts from now', {
        subscription: slot.name,
        target: new Date(target).toISOString(),
        err,
        code: grpcCode(err),
      });
    }
  }

  /** Starts pulling the topics of one kind; pulling before anyone listens would ack messages into the void. */
  attach(kind: 'envelopes' | 'cards'): void {
    for (const slot of this.slotList) {
      if ((slot.entry === undefined) !== (kind === 'cards') || slot.listening) continue;
      slot.listening = true;
      this.listen(slot);
    }
  }

  private listen(slot: Slot): void {
    const sub = slot.sub;
    if (!sub) return;
    sub.on('message', (m: Message) => this.o.onMessage(slot, m));
    sub.on('error', (err: Error) => this.onStreamError(slot, err));
  }

  private onStreamError(slot: Slot, err: Error): void {
    if (this.closing) return;
    slot.state = 'error';
    slot.lastError = err.message;
    this.o.log.error('pubsub subscription stream failed', { subscription: slot.name, err, code: grpcCode(err) });
    if (slot.reopenTimer) return;
    slot.reopenTimer = setTimeout(() => void this.reopen(slot), this.o.config.reopenDelayMs);
    slot.reopenTimer.unref();
  }

  /**
   * Where a recreated subscription is sought: back to the newest message it
   * delivered, less `reopenSeekMarginMs` (messages of other ordering keys
   * published a little earlier may not have come yet), never before the
   * start-of-day target. Seeking to the start of the day again would replay
   * the whole day to every client and push recent events out of the resume
   * history. A subscription that delivered nothing yet seeks as at start.
   */
  private reopenTarget(slot: Slot): number {
    const floor = seekTarget(Date.now(), this.o.config.seekBackMs, this.o.feedWindow);
    const last = this.o.lastPublishedAt(slot);
    return last === null ? floor : Math.max(floor, last - this.o.config.reopenSeekMarginMs);
  }

  /**
   * After a fatal stream error (e.g. the subscription expired or was
   * deleted), recreate it, seek it back and pull again. Messages in between
   * may be missing (the seek replays them only where the topic retains
   * them), which the caller is told of.
   */
  private async reopen(slot: Slot): Promise<void> {
    slot.reopenTimer = undefined;
    if (this.closing) return;
    try {
      await slot.sub?.close();
      slot.sub?.removeAllListeners();
      await this.create(slot, this.reopenTarget(slot));
      if (slot.listening) this.listen(slot);
      slot.lastError = null;
      this.counts.reopened++;
      this.o.log.notice('pubsub subscription reopened', {
        subscription: slot.name,
        seekTarget: slot.seekTarget === null ? null : new Date(slot.seekTarget).toISOString(),
      });
      this.o.onReopened(slot);
    } catch (err) {
      this.onStreamError(slot, err as Error);
    }
  }

  /** From now on no failed subscription is recreated (the start of a close). */
  halt(): void {
    this.closing = true;
    for (const slot of this.slotList) clearTimeout(slot.reopenTimer);
  }

  /** Stops pulling: nothing more is handed out after this. */
  stopPulling(): Promise<void> {
    this.halt();
    return Promise.all(
      this.slotList.map(async (slot) => {
        slot.sub?.removeAllListeners('message');
        await slot.sub?.close().catch(() => undefined);
      }),
    ).then(() => undefined);
  }

  /** Deletes every subscription by name, giving up at `deadline` (the rest expire on their own). */
  async deleteAll(deadline: number): Promise<void> {
    this.halt();
    const deletions = this.slotList.map(async (slot) => {
      // By name, whatever its state: one whose creation failed answers NOT_FOUND, which is harmless.
      try {
        await this.o.pubsub.subscription(slot.name).delete();
      } catch (err) {
        if (grpcCode(err) !== NOT_FOUND) {
          this.o.log.warn('could not delete subscription; it expires on its own', { subscription: slot.name, err });
        }
      } finally {
        slot.state = 'closed';
      }
    });
    const budget = Math.max(0, deadline - Date.now());
    if (!(await settlesBy(Promise.all(deletions), deadline))) {
      this.o.log.warn('subscription deletion ran out of time; the rest expire on their own', { budgetMs: budget });
    }
  }
}
