import type { Envelope } from '../envelope/envelope.js';
import { RecentIds } from '../consumer/recent-ids.js';
import { fetchDayCard, type DayCard } from '../tote/gateway.js';
import { redact, type Logger } from '../log/logger.js';

export type DayCardFetcher = (url: string, apiKey: string) => Promise<DayCard>;

/** Today's card from the query API (the date rolls over by itself, so a long-running service follows the days). */
export const gatewayDayCard: DayCardFetcher = (url, apiKey) => fetchDayCard(url, apiKey);

export interface GatewayCardsOptions {
  readonly gatewayUrl: string;
  readonly apiKey: string;
  readonly fetchDayCard: DayCardFetcher;
  readonly refreshMs: number;
  /** Least time between two fetches triggered by the feed (EventUpdated, an id not on the card). */
  readonly minGapMs: number;
  readonly log: Logger;
  /** Whether the current card names this product or event. */
  readonly knows: (kind: 'products' | 'events', id: string) => boolean;
  readonly onCard: (card: DayCard) => void;
  /** The failure's text, already stripped of the key (it is served to browsers). */
  readonly onError: (message: string) => void;
}

/**
 * Fetches the day card straight from a query API: only for a service given
 * the gateway explicitly and fed by a source without day cards (in the cloud
 * the subscriber publishes the card and the public service holds no key).
 * Fetched at start, every `refreshMs`, and soon after an EventUpdated or an
 * id the card does not know (at most once per `minGapMs`).
 */
export class GatewayCards {
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | null = null;
  private again = false;
  private lastFetchStarted = 0;
  private closed = false;
  /** Unknown ids that already triggered a refetch (bounded; the oldest are forgotten first). */
  private readonly asked = new RecentIds(10_000);
  fetches = 0;
  failures = 0;

  constructor(private readonly opts: GatewayCardsOptions) {}

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs);
    this.timer.unref();
  }

  /**
   * Feed hook: refetch when an event changed or the card misses an id. Each
   * unknown id triggers one refetch only, so ids the query API never knows
   * (another day's, a test's) cannot keep it busy.
   */
  note(e: Envelope): void {
    if (e.type === 'EventUpdated') {
      this.requestRefresh();
      return;
    }
    if (e.test) return;
    const { productId, eventId } = e.keys;
    const unknown =
      (productId !== undefined && !this.opts.knows('products', productId) && this.asked.add(productId)) ||
      (eventId !== undefined && !this.opts.knows('events', eventId) && this.asked.add(eventId));
    if (unknown) this.requestRefresh();
  }

  private requestRefresh(): void {
    if (this.closed) return;
    // A fetch already under way may have started before the change: fetch once more after it.
    if (this.inFlight) {
      this.again = true;
      return;
    }
    if (this.pending) return;
    const wait = Math.max(0, this.lastFetchStarted + this.opts.minGapMs - Date.now());
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.refresh();
    }, wait);
    this.pending.unref();
  }

  /** Fetches the card now (one fetch at a time); resolves when done, never rejects. */
  refresh(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.inFlight) return this.inFlight;
    this.lastFetchStarted = Date.now();
    this.fetches++;
    this.inFlight = this.opts
      .fetchDayCard(this.opts.gatewayUrl, this.opts.apiKey)
      .then((card) => {
        if (!this.closed) this.opts.onCard(card);
      })
      .catch((err: unknown) => {
        this.failures++;
        const message = this.scrub(err instanceof Error ? err.message : String(err));
        this.opts.log.warn('names fetch failed; keeping the last card', { err: message });
        if (!this.closed) this.opts.onError(message);
      })
      .finally(() => {
        this.inFlight = null;
        if (this.again) {
          this.again = false;
          this.requestRefresh();
        }
      });
    return this.inFlight;
  }

  private scrub(text: string): string {
    const key = this.opts.apiKey;
    return redact(key ? text.split(key).join('[redacted]') : text).slice(0, 300);
  }

  status() {
    return {
      fetches: this.fetches,
      failures: this.failures,
      refreshPending: this.pending !== undefined || this.inFlight !== null,
    };
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.pending);
  }
}
