import { createHash } from 'node:crypto';
import type { DayCardPublisher } from '../bus/types.js';
import { RecentIds } from '../bus/recent-ids.js';
import type { Envelope } from '../envelope/envelope.js';
import { redact, type Logger } from '../log/logger.js';
import type { DayCard } from '../day-card/day-card.js';
import { fetchDayCard } from '../tote/gateway.js';
import type { SecretResolver } from '../tote/secrets.js';

export interface DayCardRelayOptions {
  publisher: DayCardPublisher;
  /** Tote's query gateway: URL or sm:// reference, resolved at every fetch. */
  graphqlUrl: string;
  /** API key or sm:// reference, resolved at every fetch (a rotated key is used next time). */
  apiKey: string;
  resolveSecret: SecretResolver;
  /** A fresh card at least this often while the feed runs. */
  refreshMs: number;
  /** At most one fetch this often, however many EventUpdated or unknown ids arrive. */
  minGapMs: number;
  /** Whether the feed is running: no card is fetched while the subscriber is stopped. */
  active: () => boolean;
  log: Logger;
  fetchCard?: typeof fetchDayCard;
}

export interface DayCardRelayStatus {
  fetches: number;
  failures: number;
  published: number;
  lastFetchAt: string | null;
  lastError: string | null;
  events: number;
  products: number;
  truncated: boolean;
}

/** Unknown ids remembered so that each triggers at most one refetch. */
const ASKED_IDS = 10_000;

/**
 * Fetches the day card (names of venues, races, products and runners) from
 * Tote's query API and publishes it for the SSE service. The subscriber holds
 * the API key; the public SSE service must not. Refetches on a timer, on
 * EventUpdated, and once per product or event id the card does not know.
 */
export class DayCardRelay {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | null = null;
  private wanted = false;
  private lastFetchStarted = 0;
  private card: DayCard | null = null;
  private known = { events: new Set<string>(), products: new Set<string>() };
  private readonly asked = new RecentIds(ASKED_IDS);
  private readonly s: DayCardRelayStatus = {
    fetches: 0,
    failures: 0,
    published: 0,
    lastFetchAt: null,
    lastError: null,
    events: 0,
    products: 0,
    truncated: false,
  };

  constructor(private readonly o: DayCardRelayOptions) {}

  start(): void {
    // One cheap tick decides everything: the feed just started, the card is old, or a refetch was asked for.
    this.timer = setInterval(() => this.tick(), Math.min(1_000, this.o.minGapMs || 1_000));
    this.timer.unref();
    this.tick();
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return this.inFlight ?? Promise.resolve();
  }

  /** Called for every envelope: EventUpdated and ids the card does not know ask for a new card. */
  observe(e: Envelope): void {
    if (e.type === 'EventUpdated') {
      this.wanted = true;
      return;
    }
    if (!this.card) return;
    const { productId, eventId } = e.keys;
    if (productId && !this.known.products.has(productId) && this.asked.add(`p:${productId}`)) this.wanted = true;
    if (eventId && !this.known.events.has(eventId) && this.asked.add(`e:${eventId}`)) this.wanted = true;
  }

  status(): DayCardRelayStatus {
    return { ...this.s };
  }

  private tick(): void {
    if (this.inFlight || !this.o.active()) return;
    const since = Date.now() - this.lastFetchStarted;
    const due = !this.card || since >= this.o.refreshMs || (this.wanted && since >= this.o.minGapMs);
    if (!due) return;
    this.wanted = false;
    this.lastFetchStarted = Date.now();
    this.inFlight = this.fetchAndPublish().finally(() => {
      this.inFlight = null;
    });
  }

  private lastDigest: string | null = null;

  private async fetchAndPublish(): Promise<void> {
    this.s.fetches++;
    try {
      const url = await this.o.resolveSecret(this.o.graphqlUrl, { sensitive: false });
      const key = await this.o.resolveSecret(this.o.apiKey);
      if (!url || !key) throw new Error('no query API URL or key');
      const card = await (this.o.fetchCard ?? fetchDayCard)(url, key);
      this.card = card;
      this.known = { events: new Set(card.events.map((e) => e.id)), products: new Set(card.products.map((p) => p.id)) };
      Object.assign(this.s, {
        lastFetchAt: new Date().toISOString(),
        lastError: null,
        events: card.events.length,
        products: card.products.length,
        truncated: card.truncated,
      });
      await this.o.publisher.publishDayCard(card);
      this.s.published++;
      // The card is republished every refresh; only a changed one is news to an operator.
      const digest = createHash('sha256').update(JSON.stringify(card)).digest('hex');
      const level = digest === this.lastDigest ? 'debug' : 'info';
      this.lastDigest = digest;
      this.o.log[level]('day card published', {
        events: card.events.length,
        products: card.products.length,
        truncated: card.truncated,
        changed: level === 'info',
      });
    } catch (err) {
      this.s.failures++;
      this.s.lastError = redact((err as Error).message);
      // Keep the last card the SSE side has; try again at the next refresh.
      this.o.log.warn('day card fetch failed', { error: this.s.lastError });
    }
  }
}
