import type { Envelope } from '../envelope/envelope.js';

/** The latest message of one kind about one entity. */
export interface Aspect {
  readonly id: string;
  readonly receivedAt: string;
  readonly payload: Record<string, unknown>;
  /** Recovered by the subscriber's reconciliation after a reconnect: the dashboard marks it. */
  readonly reconciled?: true;
}

export interface ProductState {
  status?: Aspect;
  pool?: Aspect;
  dividends?: Aspect;
  lines?: Aspect;
  selections: Map<string, Aspect>;
  touched: number;
}

export interface EventState {
  status?: Aspect;
  result?: Aspect;
  updated?: Aspect;
  competitors: Map<string, Aspect>;
  touched: number;
}

export interface SnapshotLimits {
  readonly maxProducts: number;
  readonly maxEvents: number;
  /** Selections per product, runners per event. */
  readonly maxChildren: number;
  readonly maxAgeMs: number;
}

type ProductAspect = 'status' | 'pool' | 'dividends' | 'lines';
type EventAspect = 'status' | 'result' | 'updated';

const PRODUCT_ASPECT: Readonly<Record<string, ProductAspect>> = {
  ProductStatusChanged: 'status',
  PoolTotalChanged: 'pool',
  PoolDividendChanged: 'dividends',
  LinesChanged: 'lines',
};
const EVENT_ASPECT: Readonly<Record<string, EventAspect>> = {
  EventStatusChanged: 'status',
  EventResultChanged: 'result',
  EventUpdated: 'updated',
};

/**
 * The rules above, as clients need them to merge the stream into a snapshot the way this class does
 * (served in /config.json, so browser code does not keep its own copy).
 */
export const SNAPSHOT_RULES: SnapshotRules = {
  product: { key: 'productId', aspects: PRODUCT_ASPECT, child: { type: 'SelectionStatusChanged', key: 'selectionId', into: 'selections' } },
  event: { key: 'eventId', aspects: EVENT_ASPECT, child: { type: 'CompetitorStatusChanged', key: 'competitorId', into: 'competitors' } },
};

/** How an envelope lands in a snapshot: by entity key, one aspect per message type, or one child per runner or selection. */
export interface SnapshotRules {
  product: EntityRule;
  event: EntityRule;
}

export interface EntityRule {
  /** The envelope key naming the entity. */
  key: 'productId' | 'eventId';
  /** Message type -> the aspect it sets; the newest envelope id wins. */
  aspects: Readonly<Record<string, string>>;
  /** The message type kept per child (selection or runner), under `into`, keyed by the envelope key `key`. */
  child: { type: string; key: 'selectionId' | 'competitorId'; into: 'selections' | 'competitors' };
}

/** How often expired entities are swept out, at most. */
const SWEEP_EVERY_MS = 60_000;

/**
 * Latest state per entity, so a page opened mid-afternoon starts complete:
 * per product its status, pool total, dividends and selections; per event its
 * status, result and runners' statuses. Bets are a stream, not state, and
 * test envelopes are ignored.
 *
 * Each aspect keeps the message with the highest envelope id (UUIDv7, so the
 * newest), so a late redelivery never overwrites a newer value; clients apply
 * the same rule to events that race the snapshot.
 *
 * Bounds: at most `maxProducts` products and `maxEvents` events (the least
 * recently updated are evicted first), `maxChildren` selections per product
 * and runners per event (oldest first), and anything not updated for
 * `maxAgeMs` (a racing day) is dropped, so yesterday's card leaves overnight.
 */
export class SnapshotState {
  private readonly products = new Map<string, ProductState>();
  private readonly events = new Map<string, EventState>();
  private lastSweep = 0;
  evicted = 0;

  constructor(readonly limits: SnapshotLimits) {}

  get productCount(): number {
    return this.products.size;
  }

  get eventCount(): number {
    return this.events.size;
  }

  apply(e: Envelope, now = Date.now()): void {
    if (e.test) return;
    this.sweep(now);
    const aspect: Aspect = {
      id: e.id,
      receivedAt: e.receivedAt,
      payload: e.payload,
      ...(e.delivery === 'reconciled' ? { reconciled: true as const } : {}),
    };
    const productId = e.keys.productId;
    const eventId = e.keys.eventId;
    if (productId !== undefined) {
      const which = PRODUCT_ASPECT[e.type];
      if (which) {
        const p = this.product(productId, now);
        if (newer(p[which], e.id)) p[which] = aspect;
      } else if (e.type === 'SelectionStatusChanged' && e.keys.selectionId !== undefined) {
        setChild(this.product(productId, now).selections, e.keys.selectionId, aspect, this.limits.maxChildren);
      }
    }
    if (eventId !== undefined) {
      const which = EVENT_ASPECT[e.type];
      if (which) {
        const ev = this.event(eventId, now);
        if (newer(ev[which], e.id)) ev[which] = aspect;
      } else if (e.type === 'CompetitorStatusChanged' && e.keys.competitorId !== undefined) {
        setChild(this.event(eventId, now).competitors, e.keys.competitorId, aspect, this.limits.maxChildren);
      }
    }
  }

  private product(id: string, now: number): ProductState {
    return this.touch(this.products, id, now, this.limits.maxProducts, () => ({ selections: new Map(), touched: now }));
  }

  private event(id: string, now: number): EventState {
    return this.touch(this.events, id, now, this.limits.maxEvents, () => ({ competitors: new Map(), touched: now }));
  }

  /** Gets or makes an entity and moves it to the back: Map order is least recently updated first. */
  private touch<T extends { touched: number }>(map: Map<string, T>, id: string, now: number, cap: number, make: () => T): T {
    const found = map.get(id);
    if (found) map.delete(id);
    const v = found ?? make();
    v.touched = now;
    map.set(id, v);
    while (map.size > cap) this.evictFirst(map);
    return v;
  }

  private evictFirst(map: Map<string, unknown>): void {
    const first = map.keys().next();
    if (!first.done) {
      map.delete(first.value);
      this.evicted++;
    }
  }

  /** Drops entities idle for longer than maxAgeMs; cheap because maps are ordered by last update. */
  sweep(now = Date.now()): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    const cutoff = now - this.limits.maxAgeMs;
    for (const map of [this.products, this.events] as Map<string, { touched: number }>[]) {
      for (const [id, v] of map) {
        if (v.touched >= cutoff) break;
        map.delete(id);
        this.evicted++;
      }
    }
  }

  toJSON(): SnapshotJson {
    const products: SnapshotJson['products'] = {};
    for (const [id, p] of this.products) {
      products[id] = {
        ...(p.status && { status: p.status }),
        ...(p.pool && { pool: p.pool }),
        ...(p.dividends && { dividends: p.dividends }),
        ...(p.lines && { lines: p.lines }),
        selections: Object.fromEntries(p.selections),
      };
    }
    const events: SnapshotJson['events'] = {};
    for (const [id, ev] of this.events) {
      events[id] = {
        ...(ev.status && { status: ev.status }),
        ...(ev.result && { result: ev.result }),
        ...(ev.updated && { updated: ev.updated }),
        competitors: Object.fromEntries(ev.competitors),
      };
    }
    return { products, events };
  }
}

export interface SnapshotJson {
  products: Record<string, Partial<Record<ProductAspect, Aspect>> & { selections: Record<string, Aspect> }>;
  events: Record<string, Partial<Record<EventAspect, Aspect>> & { competitors: Record<string, Aspect> }>;
}

function newer(current: Aspect | undefined, id: string): boolean {
  return current === undefined || id > current.id;
}

function setChild(map: Map<string, Aspect>, key: string, aspect: Aspect, max: number): void {
  const current = map.get(key);
  if (!newer(current, aspect.id)) return;
  map.delete(key);
  map.set(key, aspect);
  while (map.size > max) {
    const first = map.keys().next();
    if (first.done) break;
    map.delete(first.value);
  }
}

/** The message type behind each part of the snapshot. */
const PRODUCT_PART_TYPE: Readonly<Record<ProductAspect | 'selections', string>> = {
  status: 'ProductStatusChanged',
  pool: 'PoolTotalChanged',
  dividends: 'PoolDividendChanged',
  lines: 'LinesChanged',
  selections: 'SelectionStatusChanged',
};
const EVENT_PART_TYPE: Readonly<Record<EventAspect | 'competitors', string>> = {
  status: 'EventStatusChanged',
  result: 'EventResultChanged',
  updated: 'EventUpdated',
  competitors: 'CompetitorStatusChanged',
};

/**
 * The snapshot as a reader allowed only `types` sees it: every part that came
 * from another message type left out (selections and runners as empty maps),
 * and entities with nothing left dropped.
 */
export function snapshotOfTypes(s: SnapshotJson, types: ReadonlySet<string>): SnapshotJson {
  const products: SnapshotJson['products'] = {};
  for (const [id, p] of Object.entries(s.products)) {
    const kept: SnapshotJson['products'][string] = { selections: types.has(PRODUCT_PART_TYPE.selections) ? p.selections : {} };
    for (const aspect of ['status', 'pool', 'dividends', 'lines'] as const) {
      if (p[aspect] && types.has(PRODUCT_PART_TYPE[aspect])) kept[aspect] = p[aspect];
    }
    if (Object.keys(kept).length > 1 || Object.keys(kept.selections).length) products[id] = kept;
  }
  const events: SnapshotJson['events'] = {};
  for (const [id, e] of Object.entries(s.events)) {
    const kept: SnapshotJson['events'][string] = { competitors: types.has(EVENT_PART_TYPE.competitors) ? e.competitors : {} };
    for (const aspect of ['status', 'result', 'updated'] as const) {
      if (e[aspect] && types.has(EVENT_PART_TYPE[aspect])) kept[aspect] = e[aspect];
    }
    if (Object.keys(kept).length > 1 || Object.keys(kept.competitors).length) events[id] = kept;
  }
  return { products, events };
}
