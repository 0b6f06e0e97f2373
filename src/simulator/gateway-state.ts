/**
 * What the simulator has announced, per entity, as its query gateway serves
 * it: selling status, pool total, dividends, event status and result, and
 * competitor entry status. Every published message updates it, whether or
 * not a socket was open to receive it, so after a disconnect the gateway
 * tells what the feed missed, as Tote's does.
 *
 * Bounded: at most PER_KIND entities of each kind; past that the least
 * recently announced is forgotten and the gateway falls back to the plan for
 * it (a day has a few hundred products and events, so this never happens
 * within a day).
 */
import type { Payload } from './payloads.js';

export const PER_KIND = 5_000;

export interface AnnouncedResult {
  status: string;
  competitorResults: readonly { competitorId: string; name?: string; finishingPosition: string; status?: string }[];
}

export interface AnnouncedDividends {
  status: string;
  dividends: readonly {
    dividend: { name?: string; type?: string; status?: string; amounts?: readonly Payload[] };
    legs: readonly { legId: string; selections: readonly { id: string; finishingPosition: string }[] }[];
  }[];
}

export interface AnnouncedPool {
  gross: Payload | undefined;
  net: Payload | undefined;
  takeoutPercentage: number | undefined;
}

class Recent<V> {
  private readonly map = new Map<string, V>();
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > PER_KIND) this.map.delete(this.map.keys().next().value!);
  }
  get(key: string): V | undefined {
    return this.map.get(key);
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
const first = (v: unknown): Payload | undefined => (Array.isArray(v) && v[0] && typeof v[0] === 'object' ? (v[0] as Payload) : undefined);

export class GatewayState {
  readonly productStatus = new Recent<string>();
  readonly pool = new Recent<AnnouncedPool>();
  readonly dividends = new Recent<AnnouncedDividends>();
  readonly eventStatus = new Recent<string>();
  readonly result = new Recent<AnnouncedResult>();
  /** By `${eventId}/${competitorId}`. */
  readonly entryStatus = new Recent<string>();

  /** Takes in one published message; messages without their ids change nothing. */
  record(rootField: string, p: Payload): void {
    const productId = str(p.productId);
    const eventId = str(p.eventId);
    switch (rootField) {
      case 'onProductStatusChanged':
        if (productId && str(p.status)) this.productStatus.set(productId, p.status as string);
        return;
      case 'onPoolTotalChanged': {
        const total = p.total as Payload | undefined;
        if (!productId || !total) return;
        const takeout = (p.takeout as { percentage?: unknown } | undefined)?.percentage;
        this.pool.set(productId, {
          gross: first(total.grossAmounts),
          net: first(total.netAmounts),
          takeoutPercentage: typeof takeout === 'number' ? takeout : undefined,
        });
        return;
      }
      case 'onPoolDividendChanged': {
        if (!productId || !Array.isArray(p.dividends)) return;
        const lines = p.dividends as AnnouncedDividends['dividends'];
        const status = str(p.status) ?? str(lines[0]?.dividend?.status) ?? 'PROVISIONAL';
        this.dividends.set(productId, { status, dividends: lines });
        return;
      }
      case 'onEventStatusChanged':
        if (eventId && str(p.status)) this.eventStatus.set(eventId, p.status as string);
        return;
      case 'onEventResultChanged': {
        if (!eventId || !Array.isArray(p.competitorResults)) return;
        const results = p.competitorResults as AnnouncedResult['competitorResults'];
        const status = str(p.status) ?? str(results[0]?.status) ?? 'PROVISIONAL';
        this.result.set(eventId, { status, competitorResults: results });
        return;
      }
      case 'onCompetitorStatusChanged': {
        const competitorId = str(p.competitorId);
        if (eventId && competitorId && str(p.status)) this.entryStatus.set(`${eventId}/${competitorId}`, p.status as string);
        return;
      }
    }
  }
}
