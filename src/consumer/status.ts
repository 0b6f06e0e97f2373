import type { SourceStatus } from '../bus/source-capabilities.js';
import type { DeliveryCounts } from './delivery.js';
import type { SeekOutcome, SubscriptionState } from './subscriptions.js';

/** One of this instance's subscriptions, in /status. */
export interface ConsumerSubscriptionStatus {
  readonly topic: string;
  readonly name: string;
  readonly state: SubscriptionState;
  /** 'done', 'off', 'pending', or the gRPC code of a failed seek (the emulator answers 12 for an ordered subscription). */
  readonly seek: SeekOutcome;
  /** Where the last seek sent it: the start of the day at creation, the newest delivered message less a margin when recreated. */
  readonly seekTarget: string | null;
  readonly received: number;
  /** Held unacked now; at most maxOutstandingPerSubscription. */
  readonly outstanding: number;
  readonly outstandingPeak: number;
  readonly lastMessageAt: string | null;
  /** The head of the last stream or creation error, the project id replaced by `<project>`. */
  readonly lastError: string | null;
}

/** The Pub/Sub consumer's part of the SSE service's /status (`source`). */
export interface PubSubConsumerStatus extends SourceStatus, DeliveryCounts {
  readonly kind: 'pubsub';
  readonly instanceId: string;
  /** Publish-to-here lag of recent messages. */
  readonly lag: { readonly p50Ms: number | null; readonly p99Ms: number | null; readonly samples: number };
  readonly seekFailures: number;
  /** Subscriptions recreated after their stream failed for good. */
  readonly reopened: number;
  /** Since when this instance has every message (resume is promised from here); null before start. */
  readonly completeSince: string | null;
  readonly dayCardFetchedAt: string | null;
  readonly dedupeWindow: { readonly size: number; readonly capacity: number };
  readonly outstanding: number;
  readonly maxOutstandingPerSubscription: number;
  readonly subscriptions: readonly ConsumerSubscriptionStatus[];
}
