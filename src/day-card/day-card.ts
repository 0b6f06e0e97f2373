/**
 * The day card: the day's events with their runners and its products with
 * the runner behind each selection, so that ids in the subscription messages
 * can be shown as names. The subscriber fetches it from Tote's query gateway
 * and publishes it on the bus; the consumer and the SSE service read it.
 */

export interface DayCardCompetitor {
  /** The competitorId of CompetitorStatusChanged and EventResultChanged. */
  id: string;
  name: string;
  /** Cloth number (horses) or trap number (greyhounds); null when the gateway gives neither. */
  number: number | null;
}

export interface DayCardEvent {
  id: string;
  name: string;
  venue: string;
  /** ISO 8601. */
  scheduledStart: string;
  status: string;
  /** Every declared runner, non-runners included, in the gateway's order. */
  competitors: DayCardCompetitor[];
}

/** A product leg's selection and the runner it backs (selection ids differ per product). */
export interface DayCardSelection {
  /** The selectionId of SelectionStatusChanged and of the selections in dividends. */
  id: string;
  competitorId: string;
}

export interface DayCardProduct {
  id: string;
  name: string;
  betType: string;
  eventIds: string[];
  status: string;
  /** All legs' selections whose runner the gateway names. */
  selections: DayCardSelection[];
}

export interface DayCard {
  events: DayCardEvent[];
  products: DayCardProduct[];
  /** True when a list had more pages than maxPages allows, or an event or product more runners or selections than kept. */
  truncated: boolean;
}
