/**
 * The one place where the gateway's shapes become subscription payloads.
 * Each reconciled message type names its catalog entry; what a mapper builds
 * is cut to that entry's selection (shape.ts), and every selected field the
 * gateway did not give is reported by path, never filled in.
 *
 *   ProductStatusChanged    <- product.type.selling.status (OPEN, CLOSED; UNKNOWN says nothing)
 *   PoolTotalChanged        <- product.type.pool.total { grossAmount netAmount } as one-item
 *                              grossAmounts / netAmounts lists; the gateway has no isFinalized
 *   PoolDividendChanged     <- product.type.result.dividends: dividend.amount as amounts [amount],
 *                              dividendLegs { id dividendSelections } as legs { legId selections }
 *   EventStatusChanged      <- event.status (UNKNOWN says nothing)
 *   EventResultChanged      <- event.result.results { id finishingPosition status } as
 *                              competitorResults { competitorId finishingPosition status }
 *   CompetitorStatusChanged <- event.eventCompetitors { id entryStatus } as { competitorId status }
 *
 * Not reconciled: the six bet messages (the partner's bets are checked with
 * Tote's bet-details queries, see docs/reconciliation.md), SelectionStatusChanged,
 * LinesChanged and EventUpdated (the day card refetch covers names).
 */
import { entryForMessageType, type CatalogEntry, type EntityKey } from '../../catalog/catalog.js';
import { extractKeys } from '../../envelope/envelope.js';
import type { DayState, DividendLineNode, EventStateNode, ProductStateNode } from '../../tote/gateway.js';
import { canonical, project, shapeOf, shapeOfValue } from './shape.js';

export const RECONCILED_TYPES = [
  'ProductStatusChanged',
  'PoolTotalChanged',
  'PoolDividendChanged',
  'EventStatusChanged',
  'EventResultChanged',
  'CompetitorStatusChanged',
] as const;
export type ReconciledType = (typeof RECONCILED_TYPES)[number];

const reconciled = new Set<string>(RECONCILED_TYPES);
export const isReconciledType = (type: string): type is ReconciledType => reconciled.has(type);

/** What the gateway says one entity's current message would be. */
export interface Observation {
  readonly entry: CatalogEntry;
  /** Entity identity: the values of the entry's required keys. */
  readonly entityKey: string;
  /** In the subscription's shape, cut to the catalog selection. */
  readonly payload: Record<string, unknown>;
  /** The canonical text of `payload`, for comparison with what the feed said. */
  readonly form: string;
}

export interface Mapped {
  readonly observations: Observation[];
  /** Products and events read. */
  readonly entities: number;
  /** "Type.field.path" -> how many times the gateway left a selected field out. */
  readonly missing: Record<string, number>;
  /** Lists the gateway cut (a nested page with more to come): not compared, since a part would read as a change. */
  readonly truncated: Record<string, number>;
}

/** Values of the entry's required keys, in catalog order: one entity per message type. */
export function entityKeyOf(entry: CatalogEntry, keys: Readonly<Partial<Record<EntityKey, string>>>): string | undefined {
  const parts: string[] = [];
  for (const k of entry.keys) {
    if (!k.required) continue;
    const v = keys[k.name];
    if (v === undefined) return undefined;
    parts.push(v);
  }
  return parts.join('/');
}

/** A payload cut to its catalog shape: what is kept of each entity the feed announces. */
export function catalogShaped(entry: CatalogEntry, payload: Record<string, unknown>): Record<string, unknown> {
  return project(payload, shapeOf(entry)).value as Record<string, unknown>;
}

const money = (m: { decimalAmount: unknown; currency: { code: string | null } | null } | null | undefined) =>
  m && m.decimalAmount !== null && m.decimalAmount !== undefined ? { decimalAmount: m.decimalAmount, currency: m.currency } : undefined;

const nodes = <N>(c: { nodes: (N | null)[] | null } | null | undefined): N[] => (c?.nodes ?? []).filter((n): n is N => n !== null);
const more = (c: { pageInfo?: { hasNextPage: boolean } | null } | null | undefined) => c?.pageInfo?.hasNextPage === true;

/** Statuses that say nothing yet: Tote's "not known" and a result still to come. */
const SILENT = new Set(['UNKNOWN', 'PENDING']);
const said = (s: string | null | undefined): s is string => typeof s === 'string' && s !== '' && !SILENT.has(s.toUpperCase());

function dividendLine(line: DividendLineNode, cut: () => void) {
  if (more(line.dividendLegs)) cut();
  return {
    dividend: line.dividend
      ? {
          name: line.dividend.name,
          type: line.dividend.type,
          status: line.dividend.status,
          amounts: money(line.dividend.amount) ? [money(line.dividend.amount)] : undefined,
        }
      : undefined,
    legs: nodes(line.dividendLegs).map((leg) => {
      if (more(leg.dividendSelections)) cut();
      return {
        legId: leg.id,
        selections: nodes(leg.dividendSelections).map((s) => ({ id: s.id, finishingPosition: s.finishingPosition })),
      };
    }),
  };
}

type Emit = (type: ReconciledType, payload: Record<string, unknown>) => void;
type Cut = (type: ReconciledType) => void;

function fromProduct(p: ProductStateNode, emit: Emit, cut: Cut): void {
  const productId = p.id;
  const t = p.type;
  if (!t) return;
  if (said(t.selling?.status)) emit('ProductStatusChanged', { productId, status: t.selling.status });
  const total = t.pool?.total;
  if (total)
    emit('PoolTotalChanged', {
      productId,
      total: { grossAmounts: listOf(money(total.grossAmount)), netAmounts: listOf(money(total.netAmount)) },
    });
  const dividends = t.result?.dividends;
  if (dividends && nodes(dividends).length) {
    let partial = more(dividends);
    const lines = nodes(dividends).map((l) => dividendLine(l, () => (partial = true)));
    if (partial) cut('PoolDividendChanged');
    else emit('PoolDividendChanged', { productId, dividends: lines });
  }
}

function fromEvent(e: EventStateNode, emit: Emit, cut: Cut): void {
  const eventId = e.id;
  if (said(e.status)) emit('EventStatusChanged', { eventId, status: e.status });
  const results = e.result?.results;
  if (results && nodes(results).length) {
    if (more(results)) cut('EventResultChanged');
    else {
      emit('EventResultChanged', {
        eventId,
        competitorResults: nodes(results).map((r) => ({ competitorId: r.id, finishingPosition: r.finishingPosition, status: r.status })),
      });
    }
  }
  for (const c of nodes(e.eventCompetitors)) {
    if (said(c.entryStatus)) emit('CompetitorStatusChanged', { eventId, competitorId: c.id, status: c.entryStatus });
  }
}

const listOf = <T>(v: T | undefined): T[] | undefined => (v === undefined ? undefined : [v]);

/** Every observation the gateway's answer supports, with what it lacked. */
export function mapDayState(state: DayState): Mapped {
  const observations: Observation[] = [];
  const missing: Record<string, number> = {};
  const truncated: Record<string, number> = {};
  const emit: Emit = (type, raw) => {
    const entry = entryForMessageType(type)!;
    const { value, missing: gaps } = project(raw, shapeOf(entry));
    for (const path of gaps) missing[`${type}.${path}`] = (missing[`${type}.${path}`] ?? 0) + 1;
    const payload = value as Record<string, unknown>;
    const keys = extractKeys(entry, payload);
    // Without its ids a message cannot be routed; counted above as missing.
    if (!keys.ok) return;
    observations.push({ entry, entityKey: entityKeyOf(entry, keys.keys)!, payload, form: canonical(payload) });
  };
  const cut: Cut = (type) => (truncated[type] = (truncated[type] ?? 0) + 1);
  for (const p of state.products) fromProduct(p, emit, cut);
  for (const e of state.events) fromEvent(e, emit, cut);
  return { observations, entities: state.products.length + state.events.length, missing, truncated };
}

/**
 * States the feed never announces until they change: a runner is confirmed
 * unless withdrawn. Such an observation of an entity the feed has said
 * nothing about is no news, so a restart does not emit every runner.
 */
export function isQuietDefault(o: Observation): boolean {
  if (o.entry.messageType !== 'CompetitorStatusChanged') return false;
  const s = String(o.payload.status).toUpperCase();
  return s === 'CONFIRMED' || s === 'PROVISIONAL';
}

/**
 * Order of each type's statuses in an entity's life. A gateway answer behind
 * what the feed already said (a product OPEN that the feed said CLOSED, a
 * PROVISIONAL result after the FINAL one) is taken as the gateway lagging the
 * socket, not as a correction: Tote's lifecycles do not go backwards.
 */
const LIFECYCLE: Partial<Record<ReconciledType, readonly (readonly string[])[]>> = {
  ProductStatusChanged: [['UNKNOWN'], ['OPEN'], ['CLOSED'], ['SETTLED']],
  EventStatusChanged: [['UNKNOWN'], ['SCHEDULED'], ['DELAYED'], ['STARTED'], ['FINISHED'], ['CANCELLED', 'ABANDONED']],
  EventResultChanged: [['PENDING'], ['PROVISIONAL'], ['FINAL']],
  PoolDividendChanged: [['PROVISIONAL'], ['FINAL']],
  CompetitorStatusChanged: [['UNKNOWN', 'PROVISIONAL', 'CONFIRMED'], ['WITHDRAWN']],
};

/** The status a payload of a reconciled type is at: its own, or that of its first result or dividend. */
function statusOf(type: string, p: Record<string, unknown>): string | undefined {
  const first = (list: unknown, inner?: string) => {
    const item = Array.isArray(list) ? (list[0] as Record<string, unknown> | undefined) : undefined;
    const holder = inner ? (item?.[inner] as Record<string, unknown> | undefined) : item;
    return holder?.status;
  };
  const s =
    type === 'EventResultChanged' ? first(p.competitorResults) : type === 'PoolDividendChanged' ? first(p.dividends, 'dividend') : p.status;
  return typeof s === 'string' ? s.toUpperCase() : undefined;
}

function stage(type: ReconciledType, p: Record<string, unknown>): number {
  const s = statusOf(type, p);
  return s === undefined ? -1 : (LIFECYCLE[type]?.findIndex((names) => names.includes(s)) ?? -1);
}

/**
 * Whether what the feed last said (cut to the catalog shape) already covers
 * what the gateway says. Only the fields the gateway gave are compared (it
 * has no isFinalized, for one); otherwise equal, or further along: a later
 * status in the lifecycle (a SETTLED product reads CLOSED on the gateway),
 * a larger pool total (pools only grow within a day).
 */
export function covers(seen: Record<string, unknown>, o: Observation): boolean {
  if (canonical(project(seen, shapeOfValue(o.payload)).value) === o.form) return true;
  const type = o.entry.messageType as ReconciledType;
  const had = stage(type, seen);
  const now = stage(type, o.payload);
  if (had >= 0 && now >= 0 && now < had) return true;
  if (type === 'PoolTotalChanged') {
    const gross = (p: Record<string, unknown>) =>
      Number((p.total as { grossAmounts?: { decimalAmount?: unknown }[] } | undefined)?.grossAmounts?.[0]?.decimalAmount);
    const before = gross(seen);
    const after = gross(o.payload);
    return Number.isFinite(before) && Number.isFinite(after) && after < before;
  }
  return false;
}
