import type { Envelope } from '../envelope/envelope.js';
import { RecentIds } from '../consumer/recent-ids.js';
import { fetchDayCard, type DayCard } from '../tote/gateway.js';
import { redact, type Logger } from '../log/logger.js';
import { cardNames, EMPTY_CARD_NAMES, type CardNames } from './day-card.js';
import { EncodedJson } from './encoded-json.js';

export type DayCardFetcher = (url: string, apiKey: string) => Promise<DayCard>;

/** Today's card from the query API (the date rolls over by itself, so a long-running service follows the days). */
export const gatewayDayCard: DayCardFetcher = (url, apiKey) => fetchDayCard(url, apiKey);

export interface NamesOptions {
  readonly gatewayUrl: string;
  readonly apiKey: string;
  readonly fetchDayCard: DayCardFetcher;
  readonly refreshMs: number;
  /** Least time between two fetches triggered by the feed (EventUpdated, an id not on the card). */
  readonly minGapMs: number;
  readonly log: Logger;
}

export interface NamesJson extends CardNames {
  /** Bumped on every change; the page refetches when a `names` event carries a newer one. */
  version: number;
  fetchedAt: string | null;
  /** Why the last fetch failed (never includes the key); null after a success. */
  error: string | null;
}

/** A card far bigger than any racing day is cut at these limits rather than held whole. */
export { MAX_CARD_COMPETITORS, MAX_CARD_EVENTS, MAX_CARD_PRODUCTS, MAX_CARD_SELECTIONS } from './day-card.js';

/** What /names answers when the service has no query API configured. */
export const NO_NAMES: Readonly<NamesJson> = Object.freeze({ version: 0, fetchedAt: null, error: 'names are not configured', ...EMPTY_CARD_NAMES });

/**
 * Names for the ids the feed carries: venue, race time, product and runner
 * names from Tote's query API, fetched server-side so the API key never reaches a
 * browser. Fetched at start, every `refreshMs`, and soon after an
 * EventUpdated or an id the card does not know (at most once per
 * `minGapMs`). The last good card is kept when a fetch fails.
 */
export class NameDirectory {
  private current: NamesJson = { version: 0, fetchedAt: null, error: null, ...EMPTY_CARD_NAMES };
  /** /names is read by every open page at once after a `names` event: serialized once per change. */
  private readonly encoded = new EncodedJson<NamesJson>();
  private sizes = { events: 0, products: 0, competitors: 0, selections: 0 };
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | null = null;
  private again = false;
  private lastFetchStarted = 0;
  private closed = false;
  private readonly listeners = new Set<(version: number) => void>();
  /** Unknown ids that already triggered a refetch (bounded; the oldest are forgotten first). */
  private readonly asked = new RecentIds(10_000);
  fetches = 0;
  failures = 0;

  constructor(private readonly opts: NamesOptions) {}

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs);
    this.timer.unref();
  }

  json(): NamesJson {
    return this.current;
  }

  /** The current names as JSON text, and gzipped. */
  body() {
    return this.encoded.of(this.current);
  }

  onChange(listener: (version: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
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
      (productId !== undefined && !(productId in this.current.products) && this.asked.add(productId)) ||
      (eventId !== undefined && !(eventId in this.current.events) && this.asked.add(eventId));
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
      .then((card) => this.accept(card))
      .catch((err: unknown) => {
        this.failures++;
        // Redacted: this text is served to browsers, and a key must never ride along in an error.
        const message = this.scrub(err instanceof Error ? err.message : String(err));
        this.opts.log.warn('names fetch failed; keeping the last card', { err: message });
        if (this.current.error !== message) this.publish({ ...this.current, error: message });
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

  private accept(card: DayCard): void {
    const { names, cut } = cardNames(card);
    if (card.truncated || cut) {
      this.opts.log.warn('day card cut to its limits', { events: card.events.length, products: card.products.length });
    }
    const changed =
      this.current.error !== null ||
      (Object.keys(names) as (keyof CardNames)[]).some((k) => JSON.stringify(names[k]) !== JSON.stringify(this.current[k]));
    const fetchedAt = new Date().toISOString();
    if (!changed) {
      this.current = { ...this.current, fetchedAt };
      return;
    }
    // Counted once here: /status is polled often and the maps can be large.
    this.sizes = {
      events: Object.keys(names.events).length,
      products: Object.keys(names.products).length,
      competitors: Object.keys(names.competitors).length,
      selections: Object.keys(names.selections).length,
    };
    this.publish({ version: this.current.version, fetchedAt, error: null, ...names });
    this.opts.log.info('names loaded', { ...this.sizes, version: this.current.version });
  }

  private publish(next: NamesJson): void {
    this.current = { ...next, version: this.current.version + 1 };
    for (const l of this.listeners) l(this.current.version);
  }

  status() {
    return {
      enabled: true,
      version: this.current.version,
      fetchedAt: this.current.fetchedAt,
      error: this.current.error,
      ...this.sizes,
      fetches: this.fetches,
      failures: this.failures,
      refreshPending: this.pending !== undefined || this.inFlight !== null,
    };
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.pending);
    this.listeners.clear();
  }
}
