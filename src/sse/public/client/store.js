// @ts-check
// The state of the day as a client holds it: /snapshot merged with every streamed envelope by the
// server's own rule (the newest envelope id per aspect wins), with the server's caps. Both come from
// /config.json, so this file holds no copy of them.

/** @typedef {import('../../contract/types.js').Aspect} Aspect */
/** @typedef {import('../../contract/types.js').ClientLimits} ClientLimits */
/** @typedef {import('../../contract/types.js').SnapshotRules} SnapshotRules */
/** @typedef {import('../../contract/types.js').SnapshotResponse} SnapshotResponse */
/** @typedef {import('../../contract/types.js').StreamEnvelope} StreamEnvelope */
/** @typedef {'product' | 'event'} EntityKind */
/**
 * One product or race: an aspect per rule (`status`, `pool`, …), its children by id under the rule's
 * `child.into` (`selections` of a product, `competitors` of a race), and when it last changed (epoch ms).
 * @typedef {{ lastAt: number, [aspect: string]: unknown }} Entity
 */

/** @param {Aspect | undefined} cur @param {string} id */
const newer = (cur, id) => !cur || id > cur.id;

export class FeedStore {
  /**
   * @param {{ rules: SnapshotRules, limits: ClientLimits }} o as /config.json serves them
   */
  constructor({ rules, limits }) {
    this.rules = rules;
    this.limits = limits;
    /** @type {Map<string, Entity>} */
    this.products = new Map();
    /** @type {Map<string, Entity>} */
    this.events = new Map();
    /** Recent ids, to drop a repeat after a resume (the server may resend a few around the cut). */
    this.seen = new Set();
    this.received = 0;
    this.duplicates = 0;
    this.forgotten = 0;
    /** @type {number | null} epoch ms of the last envelope applied */
    this.lastMessageAt = null;
  }

  /** @param {EntityKind} kind */
  map(kind) {
    return kind === 'product' ? this.products : this.events;
  }

  /** @param {EntityKind} kind @param {string} id @returns {Entity} */
  entity(kind, id) {
    const map = this.map(kind);
    let e = map.get(id);
    if (!e) map.set(id, (e = { lastAt: 0, [this.rules[kind].child.into]: {} }));
    return e;
  }

  /** An aspect of an entity (`status`, `pool`, `result`…), if held. @param {EntityKind} kind @param {string} id @param {string} aspect */
  aspect(kind, id, aspect) {
    return /** @type {Aspect | undefined} */ (this.map(kind).get(id)?.[aspect]);
  }

  /**
   * Called when an entity takes a newer aspect (live or from a snapshot); subclasses note what they show.
   * @param {EntityKind} _kind @param {string} _id @param {string} _aspect @param {Aspect} _value @param {boolean} _fromSnapshot
   */
  taken(_kind, _id, _aspect, _value, _fromSnapshot) {}

  /** Forgets an entity (past a cap, or too old). @param {EntityKind} kind @param {string} id */
  forget(kind, id) {
    this.map(kind).delete(id);
    this.forgotten++;
  }

  /**
   * Notes that an entity changed, and past its map's cap forgets the one changed longest ago (a scan,
   * but only on a runaway feed; the maps keep their order so a board drawn from them does not reshuffle).
   * @param {EntityKind} kind @param {Entity} entity @param {Aspect} aspect
   */
  touch(kind, entity, aspect) {
    const at = Date.parse(aspect.receivedAt ?? '');
    entity.lastAt = Math.max(entity.lastAt, Number.isFinite(at) ? at : Date.now());
    const map = this.map(kind);
    const cap = kind === 'product' ? this.limits.maxProducts : this.limits.maxEvents;
    while (map.size > cap) {
      /** @type {[string, Entity] | undefined} */
      let oldest;
      for (const [id, x] of map) if (x !== entity && (!oldest || x.lastAt < oldest[1].lastAt)) oldest = [id, x];
      if (!oldest) break;
      this.forget(kind, oldest[0]);
    }
  }

  /**
   * Takes `aspect` as the entity's `name` (or a child's, with `childId`) when it is newer than what is held.
   * @param {EntityKind} kind @param {string} id @param {string} name @param {Aspect} aspect @param {string | undefined} childId @param {boolean} fromSnapshot
   * @returns {boolean} whether it was taken
   */
  take(kind, id, name, aspect, childId, fromSnapshot) {
    const entity = this.entity(kind, id);
    if (childId !== undefined) {
      const children = /** @type {Record<string, Aspect>} */ (entity[name]);
      if (!newer(children[childId], aspect.id)) return false;
      delete children[childId];
      children[childId] = aspect;
      const ids = Object.keys(children);
      // Past the cap the child changed longest ago goes, as the server drops them.
      for (let i = 0; i < ids.length - this.limits.maxChildren; i++) delete children[/** @type {string} */ (ids[i])];
    } else {
      if (!newer(/** @type {Aspect | undefined} */ (entity[name]), aspect.id)) return false;
      entity[name] = aspect;
    }
    this.touch(kind, entity, aspect);
    this.taken(kind, id, childId === undefined ? name : `${name}:${childId}`, aspect, fromSnapshot);
    return true;
  }

  /**
   * Merges a snapshot by the same newest-wins rule as live messages, never replacing: a resync answered
   * by a fresh server instance (which has seen little of the day) must not wipe what is held, and
   * messages applied while the snapshot was loading stay unless the snapshot has something newer.
   * @param {Pick<SnapshotResponse, 'products' | 'events'>} snap
   */
  loadSnapshot(snap) {
    for (const kind of /** @type {EntityKind[]} */ (['product', 'event'])) {
      const rule = this.rules[kind];
      const entries = kind === 'product' ? snap.products : snap.events;
      for (const [id, held] of Object.entries(entries ?? {})) {
        const h = /** @type {Record<string, Aspect | Record<string, Aspect> | undefined>} */ (held);
        for (const name of new Set(Object.values(rule.aspects))) {
          const a = /** @type {Aspect | undefined} */ (h[name]);
          if (a) this.take(kind, id, name, a, undefined, true);
        }
        const children = /** @type {Record<string, Aspect> | undefined} */ (h[rule.child.into]);
        for (const [cid, a] of Object.entries(children ?? {})) this.take(kind, id, rule.child.into, a, cid, true);
      }
    }
  }

  /**
   * Applies one streamed envelope.
   * @param {StreamEnvelope} env
   * @returns {boolean} false when it was a repeat
   */
  apply(env) {
    if (this.seen.has(env.id)) {
      this.duplicates++;
      return false;
    }
    this.seen.add(env.id);
    if (this.seen.size > this.limits.seenIds) this.seen.delete(this.seen.values().next().value);
    this.received++;
    this.lastMessageAt = Date.now();
    if (env.test) return true;
    // A value the subscriber recovered after a reconnect is marked, as the server's snapshot marks it.
    /** @type {Aspect} */
    const aspect = {
      id: env.id,
      receivedAt: env.receivedAt,
      payload: env.payload,
      ...(env.delivery === 'reconciled' ? { reconciled: /** @type {const} */ (true) } : {}),
    };
    for (const kind of /** @type {EntityKind[]} */ (['product', 'event'])) {
      const rule = this.rules[kind];
      const id = env.keys?.[rule.key];
      if (!id) continue;
      const name = rule.aspects[env.type];
      if (name) this.take(kind, id, name, aspect, undefined, false);
      else if (env.type === rule.child.type) {
        const childId = env.keys?.[rule.child.key];
        if (childId) this.take(kind, id, rule.child.into, aspect, childId, false);
      }
    }
    return true;
  }

  /**
   * Forgets what has not changed for longer than the server keeps anything (`limits.maxAgeMs`).
   * @param {number} now epoch ms
   */
  expire(now) {
    for (const kind of /** @type {EntityKind[]} */ (['product', 'event'])) {
      for (const [id, e] of [...this.map(kind)]) if (now - e.lastAt > this.limits.maxAgeMs) this.forget(kind, id);
    }
  }
}
