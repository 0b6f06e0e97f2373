import type { DayCardSource } from '../bus/types.js';
import type { Logger } from '../log/logger.js';
import type { DayCard } from '../day-card/day-card.js';
import { cardNames, EMPTY_CARD_NAMES, type CardNames } from './day-card.js';
import { EncodedJson } from './encoded-json.js';
export interface NamesOptions {
  /** The subscriber fetches the card from Tote's query API and publishes it on the bus. */
  readonly source: DayCardSource;
  readonly log: Logger;
}

export interface NamesJson extends CardNames {
  /**
   * Moves forward on every change of the names: the publish time (epoch ms)
   * of the card that brought the change. Derived from the card as the
   * subscriber published it, so every SSE instance, and the same instance
   * after a restart, gives one card the same version, and a newer card a
   * larger one; the page reloads the names when it sees a larger version
   * (in a `names` event, or from /names when its stream opens, on whichever
   * instance). 0 before the first card.
   */
  version: number;
  /** When the subscriber published the latest card, changed or not. */
  fetchedAt: string | null;
  /** Why there are no names (e.g. none configured); null once a card arrived. */
  error: string | null;
}

/** The names part of the SSE service's /status. */
export type NamesStatus =
  | { readonly enabled: false }
  | {
      readonly enabled: true;
      /** Where cards come from: the subscriber publishes them on the bus. */
      readonly origin: 'bus';
      readonly version: number;
      readonly fetchedAt: string | null;
      readonly error: string | null;
      readonly events: number;
      readonly products: number;
      readonly competitors: number;
      readonly selections: number;
      /** Cards taken in, changed or not. */
      readonly cards: number;
    };

/** A card far bigger than any racing day is cut at these limits rather than held whole. */
export { MAX_CARD_COMPETITORS, MAX_CARD_EVENTS, MAX_CARD_PRODUCTS, MAX_CARD_SELECTIONS } from './day-card.js';

/** What /names answers when the service has no source of names. */
export const NO_NAMES: Readonly<NamesJson> = Object.freeze({
  version: 0,
  fetchedAt: null,
  error: 'names are not configured',
  ...EMPTY_CARD_NAMES,
});

/**
 * Names for the ids the feed carries: venue, race time, product and runner
 * names from the day card. In the cloud the subscriber fetches the card from
 * Tote's query API and publishes it on the bus, so this public service holds
 * no API key; the latest card on the bus is the one served (the subscriber
 * keeps publishing its last good card when a fetch fails).
 */
export class NameDirectory {
  private current: NamesJson = { version: 0, fetchedAt: null, error: null, ...EMPTY_CARD_NAMES };
  /** /names is read by every open page at once after a `names` event: serialized once per change. */
  private readonly encoded = new EncodedJson<NamesJson>();
  private sizes = { events: 0, products: 0, competitors: 0, selections: 0 };
  private readonly listeners = new Set<(version: number) => void>();
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  /** Cards taken in from the bus. */
  cards = 0;

  constructor(private readonly opts: NamesOptions) {}

  start(): void {
    this.unsubscribe = this.opts.source.subscribeDayCards((card, fetchedAt) => this.accept(card, fetchedAt));
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

  /** Takes a card in; a card equal to the current one only moves fetchedAt. Never throws. */
  accept(card: DayCard, fetchedAtMs: number): void {
    if (this.closed) return;
    this.cards++;
    let names: CardNames;
    try {
      const r = cardNames(card);
      names = r.names;
      if (card.truncated || r.cut) {
        this.opts.log.warn('day card cut to its limits', { events: card.events.length, products: card.products.length });
      }
    } catch (err) {
      // The consumer checked the shape; this is the last guard so a bad card cannot break the feed.
      this.opts.log.error('day card not usable; keeping the last one', { err });
      return;
    }
    const changed =
      this.current.error !== null ||
      (Object.keys(names) as (keyof CardNames)[]).some((k) => JSON.stringify(names[k]) !== JSON.stringify(this.current[k]));
    const fetchedAt = new Date(fetchedAtMs).toISOString();
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
    // The sources hand cards over oldest first; should a card's clock still run behind, the version moves on regardless.
    const version = Math.max(Math.floor(fetchedAtMs), this.current.version + 1);
    this.current = { version, fetchedAt, error: null, ...names };
    for (const l of this.listeners) l(version);
    this.opts.log.info('names loaded', { ...this.sizes, version });
  }

  status(): NamesStatus {
    return {
      enabled: true,
      origin: 'bus',
      version: this.current.version,
      fetchedAt: this.current.fetchedAt,
      error: this.current.error,
      ...this.sizes,
      cards: this.cards,
    };
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.listeners.clear();
  }
}
