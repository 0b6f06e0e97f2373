/**
 * The day card as the dashboard receives it: maps keyed by the ids the feed
 * carries, so the page can put a name on any message without another lookup.
 *
 * Each map has a limit far above a racing day (a simulated day has about 35
 * races, 145 products, 350 runners and 1,700 selections). Past a limit the
 * rest of the card is left out, its ids show as short ids on the page, and
 * `cut` says so.
 */
import type { DayCard } from '../day-card/day-card.js';

export const MAX_CARD_EVENTS = 5_000;
export const MAX_CARD_PRODUCTS = 20_000;
/** Ten runners for each event at MAX_CARD_EVENTS. */
export const MAX_CARD_COMPETITORS = 50_000;
/** Five selections for each product at MAX_CARD_PRODUCTS (a 14-runner race's products hold about 14 each). */
export const MAX_CARD_SELECTIONS = 100_000;

export interface CardNames {
  events: Record<string, { name: string; venue: string; scheduledStart: string; status: string }>;
  products: Record<string, { name: string; betType: string; eventIds: string[]; status: string }>;
  /** Runner name and cloth (or trap) number by competitor id, as CompetitorStatusChanged and EventResultChanged carry it. */
  competitors: Record<string, { name: string; number: number | null }>;
  /** Competitor id by selection id, as SelectionStatusChanged and dividends carry it (each product has its own selection ids). */
  selections: Record<string, string>;
}

export const EMPTY_CARD_NAMES: Readonly<CardNames> = Object.freeze({ events: {}, products: {}, competitors: {}, selections: {} });

export function cardNames(card: DayCard): { names: CardNames; cut: boolean } {
  const names: CardNames = { events: {}, products: {}, competitors: {}, selections: {} };
  let competitors = 0;
  let selections = 0;
  let cut = card.events.length > MAX_CARD_EVENTS || card.products.length > MAX_CARD_PRODUCTS;
  for (const e of card.events.slice(0, MAX_CARD_EVENTS)) {
    names.events[e.id] = { name: e.name, venue: e.venue, scheduledStart: e.scheduledStart, status: e.status };
    for (const c of e.competitors ?? []) {
      if (competitors >= MAX_CARD_COMPETITORS) {
        cut = true;
        break;
      }
      names.competitors[c.id] = { name: c.name, number: c.number };
      competitors++;
    }
  }
  for (const p of card.products.slice(0, MAX_CARD_PRODUCTS)) {
    names.products[p.id] = { name: p.name, betType: p.betType, eventIds: [...p.eventIds], status: p.status };
    for (const s of p.selections ?? []) {
      if (selections >= MAX_CARD_SELECTIONS) {
        cut = true;
        break;
      }
      names.selections[s.id] = s.competitorId;
      selections++;
    }
  }
  return { names, cut };
}
