/**
 * After every connect to Tote, asks the query gateway for today's state and
 * emits, for each entity whose state differs from what the feed last said, an
 * envelope of the matching message type marked `delivery: 'reconciled'`,
 * through the same path as a live one. Tote's socket has no replay, so this
 * is how a product closed, a result or a dividend declared while no socket
 * was open reaches topics, history and dashboards.
 *
 * Cost and safety:
 * - coalesced: connects within `settleMs` make one run; a connect during a run
 *   asks for one more run after it; runs start at least `minGapMs` apart;
 * - each run is a handful of paged requests (STATE_PRODUCTS_QUERY and
 *   STATE_EVENTS_QUERY, 250 a page, `requestGapMs` apart), bounded by `timeoutMs`;
 * - a failed run (gateway down, 401, timeout) is retried with full-jitter
 *   backoff between retryMinMs and retryMaxMs while the feed runs;
 * - it never holds the live feed: the fetch is async, corrections go out
 *   CHUNK at a time between turns of the event loop, and wait while the bus
 *   is behind (the live feed's own backpressure applies to both);
 * - an entity the live feed updated after the fetch began is left alone: the
 *   feed is newer than the answer.
 */
import type { CatalogEntry } from '../../catalog/catalog.js';
import type { ReconcileConfig } from '../../config/reconcile.js';
import type { Envelope } from '../../envelope/envelope.js';
import { redact, type Logger } from '../../log/logger.js';
import { backoffDelay } from '../../retry/backoff.js';
import { fetchDayState } from '../../tote/gateway.js';
import type { SecretResolver } from '../../tote/secrets.js';
import { covers, isQuietDefault, mapDayState, RECONCILED_TYPES } from './mapping.js';
import { SeenState } from './seen-state.js';

/** Corrections handed to the bus per turn of the event loop. */
const CHUNK = 100;
/** Products or events mapped and compared per turn of the event loop. */
const SLICE = 25;
/** How often a run waiting for the bus to catch up looks again. */
const ROOM_POLL_MS = 50;

export interface ReconcilerOptions {
  config: ReconcileConfig;
  /** Tote's query gateway: URL or sm:// reference, resolved at every run. */
  graphqlUrl: string;
  /** API key or sm:// reference, resolved at every run. */
  apiKey: string;
  resolveSecret: SecretResolver;
  /** Hands one correction to the ingest path (bus, history, SSE). */
  emit: (entry: CatalogEntry, payload: Record<string, unknown>, connectionId: string) => void;
  /** False while the bus or history is behind: corrections wait. */
  hasRoom: () => boolean;
  /** Whether the feed runs: no run or retry while it is stopped. */
  active: () => boolean;
  /** Today's date in the subscriber's time zone: the seen state is for one day. */
  today: () => string;
  log: Logger;
  fetchState?: typeof fetchDayState;
}

export interface ReconciliationRun {
  reason: string;
  connectionId: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  ok: boolean;
  /** Gateway requests made. */
  requests: number;
  /** Products and events read. */
  entitiesChecked: number;
  /** Entity states compared (a product gives up to three: status, pool, dividends). */
  statesCompared: number;
  corrections: number;
  correctionsByType: Record<string, number>;
  /** States the live feed updated while the run was fetching: left to the feed. */
  newerLive: number;
  /** Selected fields the gateway left out, by type and path. */
  missing: Record<string, number>;
  /** Lists the gateway cut, by type (not compared). */
  truncated: Record<string, number>;
  /** A list had more pages than allowed. */
  pagesTruncated: boolean;
  error: string | null;
}

export interface ReconcilerStatus {
  enabled: true;
  state: 'idle' | 'waiting' | 'running' | 'retrying';
  requested: number;
  /** Requests folded into a waiting or running reconciliation. */
  coalesced: number;
  runs: number;
  failures: number;
  consecutiveFailures: number;
  correctionsTotal: number;
  correctionsByType: Record<string, number>;
  lastRun: ReconciliationRun | null;
  lastSuccessAt: string | null;
  lastError: string | null;
  nextRunAt: string | null;
  seen: { entities: number; limit: number; evicted: number };
}

interface Trigger {
  reason: string;
  connectionId: string;
}

export class Reconciler {
  private readonly seen: SeenState;
  private pending: Trigger | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private lastStartedAt = -Infinity;
  private retrying = false;
  /** Set by a failed run: the backoff before its retry. */
  private retryInMs: number | null = null;
  private stopped = false;
  private abort: AbortController | null = null;
  private readonly s = {
    requested: 0,
    coalesced: 0,
    runs: 0,
    failures: 0,
    consecutiveFailures: 0,
    correctionsTotal: 0,
    correctionsByType: Object.fromEntries(RECONCILED_TYPES.map((t) => [t, 0])) as Record<string, number>,
    lastRun: null as ReconciliationRun | null,
    lastSuccessAt: null as string | null,
    lastError: null as string | null,
    nextRunAt: null as number | null,
  };

  constructor(private readonly o: ReconcilerOptions) {
    this.seen = new SeenState(o.config.maxEntities, o.today);
  }

  /** Every envelope, live or reconciled, updates the last state seen. */
  observe(e: Envelope): void {
    this.seen.observe(e);
  }

  /** A connect (first, reconnect, /start, lease takeover): reconcile soon, once however many arrive. */
  request(reason: string, connectionId: string): void {
    if (this.stopped) return;
    this.s.requested++;
    if (this.pending || this.running) this.s.coalesced++;
    this.pending = { reason, connectionId };
    // A new socket is a new chance: the backoff of earlier failures does not apply to it.
    this.retrying = false;
    this.s.consecutiveFailures = 0;
    this.schedule(this.o.config.settleMs);
  }

  status(): ReconcilerStatus {
    const state = this.running ? 'running' : this.timer ? (this.retrying ? 'retrying' : 'waiting') : 'idle';
    return {
      enabled: true,
      state,
      requested: this.s.requested,
      coalesced: this.s.coalesced,
      runs: this.s.runs,
      failures: this.s.failures,
      consecutiveFailures: this.s.consecutiveFailures,
      correctionsTotal: this.s.correctionsTotal,
      correctionsByType: { ...this.s.correctionsByType },
      lastRun: this.s.lastRun,
      lastSuccessAt: this.s.lastSuccessAt,
      lastError: this.s.lastError,
      nextRunAt: this.timer && this.s.nextRunAt !== null ? new Date(this.s.nextRunAt).toISOString() : null,
      seen: { entities: this.seen.size, limit: this.o.config.maxEntities, evicted: this.seen.evicted },
    };
  }

  /** Cancels a waiting run and aborts a running one. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort?.abort();
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.running || this.stopped) return;
    const at = Math.max(Date.now() + delayMs, this.lastStartedAt + this.o.config.minGapMs);
    if (this.timer) clearTimeout(this.timer);
    this.s.nextRunAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.s.nextRunAt = null;
        this.start();
      },
      Math.max(0, at - Date.now()),
    );
    this.timer.unref();
  }

  private start(): void {
    const trigger = this.pending;
    this.pending = null;
    // Stopped feed: nothing to reconcile until the next connect asks again.
    if (!trigger || this.stopped || !this.o.active()) return;
    this.lastStartedAt = Date.now();
    this.running = this.run(trigger).finally(() => {
      this.running = null;
      const retryIn = this.retryInMs;
      this.retryInMs = null;
      if (retryIn !== null) {
        // The backoff decides a retry, not the gap between runs.
        this.lastStartedAt = -Infinity;
        this.schedule(retryIn);
      } else if (this.pending) this.schedule(this.o.config.settleMs);
    });
  }

  private async run(trigger: Trigger): Promise<void> {
    const started = Date.now();
    const deadline = started + this.o.config.timeoutMs;
    this.s.runs++;
    this.abort = new AbortController();
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.o.config.timeoutMs)]);
    const run: ReconciliationRun = {
      reason: trigger.reason,
      connectionId: trigger.connectionId,
      startedAt: new Date(started).toISOString(),
      finishedAt: '',
      durationMs: 0,
      ok: false,
      requests: 0,
      entitiesChecked: 0,
      statesCompared: 0,
      corrections: 0,
      correctionsByType: {},
      newerLive: 0,
      missing: {},
      truncated: {},
      pagesTruncated: false,
      error: null,
    };
    try {
      const url = await this.o.resolveSecret(this.o.graphqlUrl, { sensitive: false });
      const key = await this.o.resolveSecret(this.o.apiKey);
      if (!url || !key) throw new Error('no query API URL or key');
      const fromSeq = this.seen.sequence;
      const state = await (this.o.fetchState ?? fetchDayState)(url, key, undefined, {
        timeoutMs: this.o.config.timeoutMs,
        minRequestGapMs: this.o.config.requestGapMs,
        signal,
      });
      run.requests = state.requests;
      run.pagesTruncated = state.truncated;
      let sent = 0;
      // A day is mapped and compared a slice of entities at a time, with a turn of the event loop between:
      // a full day in one go holds the live feed's frames for tens of milliseconds.
      const slices = [
        ...chunks(state.products, SLICE).map((products) => ({ ...state, products, events: [] })),
        ...chunks(state.events, SLICE).map((events) => ({ ...state, products: [], events })),
      ];
      for (const slice of slices) {
        await new Promise((r) => setImmediate(r));
        const mapped = mapDayState(slice);
        run.entitiesChecked += mapped.entities;
        run.statesCompared += mapped.observations.length;
        addCounts(run.missing, mapped.missing);
        addCounts(run.truncated, mapped.truncated);
        for (const obs of mapped.observations) {
          const seen = this.seen.get(obs.entry.messageType, obs.entityKey);
          if (seen && seen.seq > fromSeq) {
            run.newerLive++;
            continue;
          }
          if (seen ? covers(seen.payload, obs) : isQuietDefault(obs)) continue;
          if (sent > 0 && sent % CHUNK === 0) await this.roomBy(deadline);
          // Stopped meanwhile: the next connect's run finds what is left.
          if (this.stopped || !this.o.active()) break;
          this.o.emit(obs.entry, obs.payload, trigger.connectionId);
          sent++;
          run.corrections++;
          run.correctionsByType[obs.entry.messageType] = (run.correctionsByType[obs.entry.messageType] ?? 0) + 1;
          this.s.correctionsByType[obs.entry.messageType] = (this.s.correctionsByType[obs.entry.messageType] ?? 0) + 1;
          this.s.correctionsTotal++;
        }
      }
      run.ok = true;
      this.s.lastSuccessAt = new Date().toISOString();
      this.s.consecutiveFailures = 0;
      this.retrying = false;
      this.o.log.info('reconciliation done', {
        reason: run.reason,
        requests: run.requests,
        entitiesChecked: run.entitiesChecked,
        corrections: run.corrections,
        newerLive: run.newerLive,
        missing: run.missing,
      });
    } catch (err) {
      run.error = redact((err as Error).message);
      this.s.failures++;
      this.s.consecutiveFailures++;
      this.s.lastError = run.error;
      if (!this.stopped && this.o.active()) {
        // Retry the same trigger unless a newer connect already asked.
        const reason = trigger.reason.startsWith('retry after: ') ? trigger.reason : `retry after: ${trigger.reason}`;
        this.pending ??= { reason, connectionId: trigger.connectionId };
        this.retrying = true;
        this.retryInMs = backoffDelay(this.s.consecutiveFailures - 1, this.o.config.retryMinMs, this.o.config.retryMaxMs);
      }
      this.o.log.warn('reconciliation failed; the live feed goes on', {
        reason: trigger.reason,
        error: run.error,
        attempt: this.s.consecutiveFailures,
      });
    } finally {
      this.abort = null;
      run.finishedAt = new Date().toISOString();
      run.durationMs = Date.now() - started;
      this.s.lastRun = run;
    }
  }

  /** Yields to the live feed, then waits while the bus is behind, until the run's deadline. */
  private async roomBy(deadline: number): Promise<void> {
    await new Promise((r) => setImmediate(r));
    while (!this.o.hasRoom() && Date.now() < deadline && !this.stopped) await new Promise((r) => setTimeout(r, ROOM_POLL_MS));
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}
