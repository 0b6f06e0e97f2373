// The page's picture of the day: the snapshot, then every streamed message
// applied with the server's rule (the newest envelope id per aspect wins).

const PRODUCT_ASPECT = {
  ProductStatusChanged: 'status',
  PoolTotalChanged: 'pool',
  PoolDividendChanged: 'dividends',
  LinesChanged: 'lines',
};
const EVENT_ASPECT = { EventStatusChanged: 'status', EventResultChanged: 'result', EventUpdated: 'updated' };

/** Recent ids kept to drop a repeat after a resume (the server may resend a few around the cut). */
const SEEN_IDS = 20_000;
/** Declared results and dividends listed in the side panel. */
const DECLARED_KEPT = 40;
/**
 * Entities held at most, as the server's snapshot caps (SSE_SNAPSHOT_MAX_*): a UK racing day has a few
 * hundred products. Past a cap the entity updated longest ago is forgotten (it shows from the card, if
 * it is on it, without its live state).
 */
export const MAX_PRODUCTS = 5_000;
export const MAX_EVENTS = 2_000;
/** One racing day, as the server's snapshot keeps: anything not updated for longer is forgotten. */
export const MAX_AGE_MS = 18 * 3_600_000;

const newer = (cur, id) => !cur || id > cur.id;

const dayFormats = new Map();
/** The calendar day of `t` (epoch ms) in the feed's time zone, as YYYY-MM-DD. */
export function dayKey(t, timeZone) {
  let f = dayFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dayFormats.set(timeZone, f);
  }
  return f.format(t);
}

export class DayState {
  constructor({ maxProducts = MAX_PRODUCTS, maxEvents = MAX_EVENTS } = {}) {
    this.maxProducts = maxProducts;
    this.maxEvents = maxEvents;
    this.forgotten = 0;
    this.products = new Map();
    this.events = new Map();
    this.names = { version: 0, events: {}, products: {}, competitors: {}, selections: {} };
    this.seen = new Set();
    this.declared = [];
    this.received = 0;
    this.duplicates = 0;
    this.lastMessageAt = null;
    /** Time each product's pool last changed here, for the highlight. */
    this.poolChangedAt = new Map();
    this.receivedIds = [];
  }

  product(id) {
    let p = this.products.get(id);
    if (!p) this.products.set(id, (p = { selections: {}, lastAt: 0 }));
    return p;
  }

  event(id) {
    let e = this.events.get(id);
    if (!e) this.events.set(id, (e = { competitors: {}, lastAt: 0 }));
    return e;
  }

  /**
   * Notes that an entity took a newer aspect, and past its map's cap forgets the entity changed longest
   * ago (a scan, but only on a runaway feed; the maps keep their order so the board does not reshuffle).
   */
  touch(kind, entity, aspect) {
    const at = Date.parse(aspect.receivedAt ?? '');
    entity.lastAt = Math.max(entity.lastAt, Number.isFinite(at) ? at : Date.now());
    const map = kind === 'product' ? this.products : this.events;
    const cap = kind === 'product' ? this.maxProducts : this.maxEvents;
    while (map.size > cap) {
      let oldest;
      for (const [id, x] of map) if (x !== entity && (!oldest || x.lastAt < oldest[1].lastAt)) oldest = [id, x];
      this.forget(kind, oldest[0]);
    }
  }

  forget(kind, id) {
    if (kind === 'product') {
      this.products.delete(id);
      this.poolChangedAt.delete(id);
    } else {
      this.events.delete(id);
    }
    const declaredKind = kind === 'product' ? 'dividend' : 'result';
    this.declared = this.declared.filter((d) => !(d.kind === declaredKind && d.id === id));
    this.forgotten++;
  }

  /**
   * Forgets the days gone by, so a page kept open for days holds one day: an entity on no card of the
   * current names (the card is replaced when a new day's card arrives) whose last change was on an
   * earlier day than `now` in the feed's time zone, and anything unchanged for MAX_AGE_MS. An entity off
   * the card but changed today stays ("Not on the card yet": the card catches up).
   */
  prune(now, timeZone) {
    const today = dayKey(now, timeZone);
    const stale = (entity, onCard) => now - entity.lastAt > MAX_AGE_MS || (!onCard && dayKey(entity.lastAt, timeZone) !== today);
    for (const [id, p] of [...this.products]) if (stale(p, id in this.names.products)) this.forget('product', id);
    for (const [id, e] of [...this.events]) if (stale(e, id in this.names.events)) this.forget('event', id);
  }

  /**
   * Merges a snapshot by the same newest-wins rule as live messages, never
   * replacing: a resync answered by a fresh server instance (which has seen
   * little of the day) must not wipe what this page already holds, and
   * messages applied while the snapshot was loading stay where they are
   * unless the snapshot has something newer.
   */
  loadSnapshot(snap) {
    const take = (kind, entity, into, key, aspect) => {
      if (!aspect || !newer(into[key], aspect.id)) return false;
      into[key] = aspect;
      this.touch(kind, entity, aspect);
      return true;
    };
    for (const [id, p] of Object.entries(snap.products ?? {})) {
      const cur = this.product(id);
      for (const k of Object.values(PRODUCT_ASPECT)) {
        if (take('product', cur, cur, k, p[k]) && k === 'dividends') this.noteDeclared('dividend', id, p[k], true);
      }
      for (const [sid, a] of Object.entries(p.selections ?? {})) take('product', cur, cur.selections, sid, a);
    }
    for (const [id, e] of Object.entries(snap.events ?? {})) {
      const cur = this.event(id);
      for (const k of Object.values(EVENT_ASPECT)) {
        if (take('event', cur, cur, k, e[k]) && k === 'result') this.noteDeclared('result', id, e[k], true);
      }
      for (const [cid, a] of Object.entries(e.competitors ?? {})) take('event', cur, cur.competitors, cid, a);
    }
    this.declared.sort((a, b) => (a.at < b.at ? 1 : -1));
    if (this.declared.length > DECLARED_KEPT) this.declared.length = DECLARED_KEPT;
  }

  setNames(names) {
    // A server from before runner names sends neither map.
    this.names = { competitors: {}, selections: {}, ...names };
  }

  /** Applies one streamed envelope; false when it was a repeat. */
  apply(env) {
    if (this.seen.has(env.id)) {
      this.duplicates++;
      return false;
    }
    this.seen.add(env.id);
    if (this.seen.size > SEEN_IDS) this.seen.delete(this.seen.values().next().value);
    this.receivedIds.push(env.id);
    if (this.receivedIds.length > SEEN_IDS) this.receivedIds.splice(0, this.receivedIds.length - SEEN_IDS);
    this.received++;
    this.lastMessageAt = Date.now();
    if (env.test) return true;
    const aspect = { id: env.id, receivedAt: env.receivedAt, payload: env.payload, ...(env.delivery === 'reconciled' ? { reconciled: true } : {}) };
    const { productId, eventId, selectionId, competitorId } = env.keys ?? {};
    if (productId) {
      const which = PRODUCT_ASPECT[env.type];
      if (which) {
        const p = this.product(productId);
        if (newer(p[which], env.id)) {
          p[which] = aspect;
          this.touch('product', p, aspect);
          if (which === 'pool') this.poolChangedAt.set(productId, Date.now());
          if (which === 'dividends') this.noteDeclared('dividend', productId, aspect);
        }
      } else if (env.type === 'SelectionStatusChanged' && selectionId) {
        const p = this.product(productId);
        if (newer(p.selections[selectionId], env.id)) {
          p.selections[selectionId] = aspect;
          this.touch('product', p, aspect);
        }
      }
    }
    if (eventId) {
      const which = EVENT_ASPECT[env.type];
      if (which) {
        const e = this.event(eventId);
        if (newer(e[which], env.id)) {
          e[which] = aspect;
          this.touch('event', e, aspect);
          if (which === 'result') this.noteDeclared('result', eventId, aspect);
        }
      } else if (env.type === 'CompetitorStatusChanged' && competitorId) {
        const e = this.event(eventId);
        if (newer(e.competitors[competitorId], env.id)) {
          e.competitors[competitorId] = aspect;
          this.touch('event', e, aspect);
        }
      }
    }
    return true;
  }

  noteDeclared(kind, id, aspect, bulk = false) {
    this.declared = this.declared.filter((d) => !(d.kind === kind && d.id === id));
    const item = { kind, id, at: aspect.receivedAt, aspect };
    if (bulk) this.declared.push(item);
    else this.declared.unshift(item);
    if (!bulk && this.declared.length > DECLARED_KEPT) this.declared.length = DECLARED_KEPT;
  }

  productStatus(id) {
    return this.products.get(id)?.status?.payload?.status ?? this.names.products[id]?.status ?? 'UNKNOWN';
  }

  eventStatus(id) {
    return this.events.get(id)?.status?.payload?.status ?? this.names.events[id]?.status ?? 'UNKNOWN';
  }
}
