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

const newer = (cur, id) => !cur || id > cur.id;

export class DayState {
  constructor() {
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
    if (!p) this.products.set(id, (p = { selections: {} }));
    return p;
  }

  event(id) {
    let e = this.events.get(id);
    if (!e) this.events.set(id, (e = { competitors: {} }));
    return e;
  }

  /**
   * Merges a snapshot by the same newest-wins rule as live messages, never
   * replacing: a resync answered by a fresh server instance (which has seen
   * little of the day) must not wipe what this page already holds, and
   * messages applied while the snapshot was loading stay where they are
   * unless the snapshot has something newer.
   */
  loadSnapshot(snap) {
    const take = (into, key, aspect) => {
      if (!aspect || !newer(into[key], aspect.id)) return false;
      into[key] = aspect;
      return true;
    };
    for (const [id, p] of Object.entries(snap.products ?? {})) {
      const cur = this.product(id);
      for (const k of Object.values(PRODUCT_ASPECT)) {
        if (take(cur, k, p[k]) && k === 'dividends') this.noteDeclared('dividend', id, p[k], true);
      }
      for (const [sid, a] of Object.entries(p.selections ?? {})) take(cur.selections, sid, a);
    }
    for (const [id, e] of Object.entries(snap.events ?? {})) {
      const cur = this.event(id);
      for (const k of Object.values(EVENT_ASPECT)) {
        if (take(cur, k, e[k]) && k === 'result') this.noteDeclared('result', id, e[k], true);
      }
      for (const [cid, a] of Object.entries(e.competitors ?? {})) take(cur.competitors, cid, a);
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
    const aspect = { id: env.id, receivedAt: env.receivedAt, payload: env.payload };
    const { productId, eventId, selectionId, competitorId } = env.keys ?? {};
    if (productId) {
      const which = PRODUCT_ASPECT[env.type];
      if (which) {
        const p = this.product(productId);
        if (newer(p[which], env.id)) {
          p[which] = aspect;
          if (which === 'pool') this.poolChangedAt.set(productId, Date.now());
          if (which === 'dividends') this.noteDeclared('dividend', productId, aspect);
        }
      } else if (env.type === 'SelectionStatusChanged' && selectionId) {
        const p = this.product(productId);
        if (newer(p.selections[selectionId], env.id)) p.selections[selectionId] = aspect;
      }
    }
    if (eventId) {
      const which = EVENT_ASPECT[env.type];
      if (which) {
        const e = this.event(eventId);
        if (newer(e[which], env.id)) {
          e[which] = aspect;
          if (which === 'result') this.noteDeclared('result', eventId, aspect);
        }
      } else if (env.type === 'CompetitorStatusChanged' && competitorId) {
        const e = this.event(eventId);
        if (newer(e.competitors[competitorId], env.id)) e.competitors[competitorId] = aspect;
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
