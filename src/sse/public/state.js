// @ts-check
// The page's picture of the day: the client's store (snapshot and stream merged by the server's rule,
// with the server's caps), plus what the board shows beside it: names from the day card, the latest
// results and dividends, pool highlights, and forgetting the days gone by.
import { FeedStore } from './client/store.js';

/** @typedef {import('./client/store.js').EntityKind} EntityKind */
/** @typedef {import('./client/store.js').Aspect} Aspect */
/** @typedef {import('../contract/types.js').NamesResponse} Names */
/** @typedef {{ kind: 'dividend' | 'result', id: string, at: string, aspect: Aspect }} Declared */

/** Declared results and dividends listed in the side panel. */
const DECLARED_KEPT = 40;

/** @type {Map<string, Intl.DateTimeFormat>} */
const dayFormats = new Map();
/** The calendar day of `t` (epoch ms) in the feed's time zone, as YYYY-MM-DD. @param {number} t @param {string} timeZone */
export function dayKey(t, timeZone) {
  let f = dayFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dayFormats.set(timeZone, f);
  }
  return f.format(t);
}

export class DayState extends FeedStore {
  /** @param {ConstructorParameters<typeof FeedStore>[0]} config the rules and limits of /config.json */
  constructor(config) {
    super(config);
    /** @type {Names} */
    this.names = { version: 0, fetchedAt: null, error: null, events: {}, products: {}, competitors: {}, selections: {} };
    /** @type {Declared[]} newest first */
    this.declared = [];
    /** Time each product's pool last changed here, for the highlight. @type {Map<string, number>} */
    this.poolChangedAt = new Map();
    /** Ids in the order they arrived (as many as the store remembers). @type {string[]} */
    this.receivedIds = [];
  }

  /** @override @param {EntityKind} kind @param {string} id @param {string} aspect @param {Aspect} value @param {boolean} fromSnapshot */
  taken(kind, id, aspect, value, fromSnapshot) {
    if (kind === 'product' && aspect === 'pool' && !fromSnapshot) this.poolChangedAt.set(id, Date.now());
    if (kind === 'product' && aspect === 'dividends') this.noteDeclared('dividend', id, value, fromSnapshot);
    if (kind === 'event' && aspect === 'result') this.noteDeclared('result', id, value, fromSnapshot);
  }

  /** @override @param {EntityKind} kind @param {string} id */
  forget(kind, id) {
    super.forget(kind, id);
    if (kind === 'product') this.poolChangedAt.delete(id);
    const declaredKind = kind === 'product' ? 'dividend' : 'result';
    this.declared = this.declared.filter((d) => !(d.kind === declaredKind && d.id === id));
  }

  /**
   * Forgets the days gone by, so a page kept open for days holds one day: an entity on no card of the
   * current names (the card is replaced when a new day's card arrives) whose last change was on an
   * earlier day than `now` in the feed's time zone, and anything unchanged for longer than the server
   * keeps it. An entity off the card but changed today stays ("Not on the card yet": the card catches up).
   * @param {number} now @param {string} timeZone
   */
  prune(now, timeZone) {
    const today = dayKey(now, timeZone);
    /** @param {{ lastAt: number }} entity @param {boolean} onCard */
    const stale = (entity, onCard) => now - entity.lastAt > this.limits.maxAgeMs || (!onCard && dayKey(entity.lastAt, timeZone) !== today);
    for (const [id, p] of [...this.products]) if (stale(p, id in this.names.products)) this.forget('product', id);
    for (const [id, e] of [...this.events]) if (stale(e, id in this.names.events)) this.forget('event', id);
  }

  /** @override @param {Parameters<FeedStore['loadSnapshot']>[0]} snap */
  loadSnapshot(snap) {
    super.loadSnapshot(snap);
    this.declared.sort((a, b) => (a.at < b.at ? 1 : -1));
    if (this.declared.length > DECLARED_KEPT) this.declared.length = DECLARED_KEPT;
  }

  /** @override @param {Parameters<FeedStore['apply']>[0]} env */
  apply(env) {
    if (!super.apply(env)) return false;
    this.receivedIds.push(env.id);
    if (this.receivedIds.length > this.limits.seenIds) this.receivedIds.splice(0, this.receivedIds.length - this.limits.seenIds);
    return true;
  }

  /** @param {Names} names */
  setNames(names) {
    // A server from before runner names sends neither map.
    this.names = { ...names, competitors: names.competitors ?? {}, selections: names.selections ?? {} };
  }

  /** @param {'dividend' | 'result'} kind @param {string} id @param {Aspect} aspect @param {boolean} bulk */
  noteDeclared(kind, id, aspect, bulk) {
    this.declared = this.declared.filter((d) => !(d.kind === kind && d.id === id));
    const item = { kind, id, at: aspect.receivedAt, aspect };
    if (bulk) this.declared.push(item);
    else this.declared.unshift(item);
    if (!bulk && this.declared.length > DECLARED_KEPT) this.declared.length = DECLARED_KEPT;
  }

  /** @param {string} id */
  productStatus(id) {
    const s = /** @type {{ status?: string } | undefined} */ (this.aspect('product', id, 'status')?.payload);
    return s?.status ?? this.names.products[id]?.status ?? 'UNKNOWN';
  }

  /** @param {string} id */
  eventStatus(id) {
    const s = /** @type {{ status?: string } | undefined} */ (this.aspect('event', id, 'status')?.payload);
    return s?.status ?? this.names.events[id]?.status ?? 'UNKNOWN';
  }
}
