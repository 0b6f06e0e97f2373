import { CATALOG, entryForMessageType, type CatalogEntry } from '../catalog/catalog.js';
import type { EnvelopePublisher, PublishOutcome } from '../bus/types.js';
import { settlesBy } from '../deadline/deadline.js';
import {
  extractKeys,
  makeDeadLetter,
  makeEnvelope,
  type DeadLetter,
  type DeadLetterReason,
  type Envelope,
  type Origin,
} from '../envelope/envelope.js';
import { checkPayloadShape, DEFAULT_PAYLOAD_LIMITS, type PayloadLimits } from '../envelope/payload-shape.js';
import { canWriteNow, type HistorySink, type ImmediateHistorySink } from '../history/types.js';
import { containsSecret, redactValue, type Logger } from '../log/logger.js';
import type { FrameMeta } from '../tote/client.js';

export interface TypeCounters {
  /** Live messages and reconciled corrections alike. */
  received: number;
  /** Of `received`, corrections made by the reconciliation after a reconnect. */
  reconciled: number;
  published: number;
  /** Not confirmed by the bus at shutdown and kept in the outbox, to be published at the next start. */
  outboxed: number;
  deadLettered: number;
  inFlight: number;
  lastMessageAt: string | null;
}

export interface IngestOptions {
  publisher: EnvelopePublisher;
  history: HistorySink;
  log: Logger;
  instanceId: string;
  /** "tote" or "simulator": recorded on every envelope. */
  source: string;
  /**
   * Envelopes handed to the bus or history and not yet settled. Past this the
   * socket is paused (`onPressure(true)`), so Tote's TCP stream backs up
   * instead of our memory; reading resumes at half the limit.
   */
  maxInFlight?: number;
  /**
   * The same limit in bytes of frame text, so a run of large frames pauses
   * the socket before their parsed payloads fill the heap (a count alone
   * lets 10,000 half-megabyte frames in).
   * @default 64 MiB
   */
  maxInFlightBytes?: number;
  onPressure?: (paused: boolean) => void;
  /** Sees every envelope as it is made (e.g. to refetch the day card on EventUpdated). */
  onEnvelope?: (envelope: Envelope) => void;
  /** Shape limits a payload must meet to become an envelope (depth, value count). */
  payloadLimits?: PayloadLimits;
}

/** A frame's size, held against maxInFlightBytes until both halves of its hand-over (bus, history) are done. */
interface BytesHold {
  halves: number;
  readonly bytes: number;
}

/** Messages that arrive without a known type are counted under this name. */
const UNKNOWN = 'unknown';

/**
 * The vendor-free core: turns Tote frames into envelopes and hands them to a
 * bus publisher and a history sink. Every envelope ends in exactly one of
 * published, dead-lettered or in flight, and the counters say how many.
 */
export class Ingest {
  private readonly counters = new Map<string, TypeCounters>();
  private readonly deadLetterReasons = new Map<string, number>();
  private readonly maxInFlight: number;
  private readonly maxInFlightBytes: number;
  private bytesPending = 0;
  private publishPending = 0;
  private historyPending = 0;
  private paused = false;
  /** Hand-overs to the bus or history not yet settled, and the drain() calls waiting for none. */
  private unsettled = 0;
  private idleWaiters: (() => void)[] = [];
  private lostAfterDeadLetterFailure = 0;
  private lastOrigin: Origin | null = null;
  /** History, where it can take an envelope without a promise. */
  private readonly immediateHistory: ImmediateHistorySink | null;

  constructor(private readonly opts: IngestOptions) {
    // Enough to ride out a few seconds of Pub/Sub latency at peak rates while
    // keeping memory to a few tens of MB at ~2 KB per envelope.
    this.maxInFlight = opts.maxInFlight ?? 10_000;
    this.maxInFlightBytes = opts.maxInFlightBytes ?? 64 * 1024 * 1024;
    this.immediateHistory = canWriteNow(opts.history) ? opts.history : null;
    for (const e of CATALOG) this.counters.set(e.messageType, blank());
  }

  private counter(type: string): TypeCounters {
    let c = this.counters.get(type);
    if (!c) {
      c = blank();
      this.counters.set(type, c);
    }
    return c;
  }

  /**
   * A data frame for a catalog entry. Whatever the payload holds, it ends as
   * an envelope or a counted dead letter: nothing thrown here may reach the
   * socket's event handler, where it would end the process.
   */
  handleMessage(entry: CatalogEntry, payload: Record<string, unknown>, raw: string, meta: FrameMeta): void {
    let handedOn = false;
    try {
      const shape = checkPayloadShape(payload, this.opts.payloadLimits ?? DEFAULT_PAYLOAD_LIMITS);
      if (!shape.ok) {
        this.handleBadFrame(shape.reason, shape.detail, raw, meta, entry);
        return;
      }
      // A key Tote echoes back must reach neither the topics, history nor the public stream.
      if (containsSecret(raw)) payload = redactValue(payload);
      const keys = extractKeys(entry, payload);
      if (!keys.ok) {
        this.handleBadFrame('missing-keys', `missing ${keys.missing.join(', ')}`, raw, meta, entry);
        return;
      }
      const envelope = makeEnvelope(entry, payload, keys.keys, this.origin(meta), meta.receivedAt);
      const bytes = raw.length;
      const c = this.counter(entry.messageType);
      c.received++;
      c.inFlight++;
      c.lastMessageAt = envelope.receivedAt;
      // dispatch() turns every failure into a settled promise, so from here
      // the envelope is accounted for whatever happens next.
      this.dispatch(envelope, c, bytes);
      handedOn = true;
      this.opts.onEnvelope?.(envelope);
    } catch (err) {
      if (handedOn) this.opts.log.error('envelope observer failed', { type: entry.messageType, error: errorText(err) });
      else this.onIngestError(err, raw, meta, entry);
    }
  }

  /**
   * A defect met while taking a frame in: the frame is dead-lettered with the
   * error, so it is counted once and can be replayed once the defect is fixed.
   */
  private onIngestError(err: unknown, raw: string, meta: FrameMeta, entry: CatalogEntry | undefined): void {
    const detail = errorText(err);
    this.opts.log.error('frame could not be taken in; dead-lettering it', { type: entry?.messageType, error: detail });
    try {
      this.handleBadFrame('ingest-error', detail, raw, meta, entry);
    } catch (again) {
      this.opts.log.error('dead letter could not be made', { error: errorText(again) });
    }
  }

  /**
   * A correction from the reconciliation: an envelope marked reconciled, on
   * the same path as a live one (catalog keys, ordering key, bus, history,
   * observers). A payload without its keys is dead-lettered like a frame.
   */
  handleReconciled(entry: CatalogEntry, payload: Record<string, unknown>, connectionId: string): void {
    const origin: Origin = { source: this.opts.source, protocol: null, connectionId, instanceId: this.opts.instanceId };
    const keys = extractKeys(entry, payload);
    const c = this.counter(entry.messageType);
    if (!keys.ok) {
      c.received++;
      this.deadLetter(
        makeDeadLetter('missing-keys', `reconciled: missing ${keys.missing.join(', ')}`, JSON.stringify(payload), origin, entry),
        c,
      );
      return;
    }
    const envelope = makeEnvelope(entry, payload, keys.keys, origin, new Date(), false, 'reconciled');
    c.received++;
    c.reconciled++;
    c.inFlight++;
    c.lastMessageAt = envelope.receivedAt;
    this.dispatch(envelope, c);
    this.opts.onEnvelope?.(envelope);
  }

  /** Whether the bus and history have room for more: below half the in-flight limit, not paused. */
  hasRoom(): boolean {
    return !this.paused && Math.max(this.publishPending, this.historyPending) < this.maxInFlight / 2;
  }

  /** A test envelope for every topic (POST /test-pubsub): published, not kept in history. */
  async publishTest(connectionId: string): Promise<Record<string, { ok: boolean; envelopeId: string; error?: string }>> {
    const origin: Origin = { source: 'test', protocol: null, connectionId, instanceId: this.opts.instanceId };
    const results: Record<string, { ok: boolean; envelopeId: string; error?: string }> = {};
    await Promise.all(
      CATALOG.map(async (entry) => {
        const payload: Record<string, unknown> = { test: true };
        const keys: Record<string, string> = {};
        for (const k of entry.keys) keys[k.name] = payload[k.name] = `test-${k.name}`;
        const env = makeEnvelope(entry, payload, keys, origin, new Date(), true);
        try {
          await this.opts.publisher.publish(env);
          results[entry.topic] = { ok: true, envelopeId: env.id };
        } catch (err) {
          results[entry.topic] = { ok: false, envelopeId: env.id, error: (err as Error).message };
        }
      }),
    );
    return results;
  }

  /** A frame that cannot become an envelope: counted, logged, dead-lettered with its reason. */
  handleBadFrame(reason: DeadLetterReason, detail: string, raw: string, meta: FrameMeta, entry?: CatalogEntry): void {
    const dl = makeDeadLetter(reason, detail, raw, this.origin(meta), entry, meta.receivedAt);
    const c = this.counter(entry?.messageType ?? UNKNOWN);
    c.received++;
    this.deadLetter(dl, c);
  }

  /** Every frame of one socket has the same origin: made once per socket, not once per frame. */
  private origin(meta: FrameMeta): Origin {
    const last = this.lastOrigin;
    if (last && last.connectionId === meta.connectionId && last.protocol === meta.protocol) return last;
    return (this.lastOrigin = {
      source: this.opts.source,
      protocol: meta.protocol,
      connectionId: meta.connectionId,
      instanceId: this.opts.instanceId,
    });
  }

  /** `bytes`: the frame's text length, held against maxInFlightBytes (a reconciled correction has no frame). */
  private dispatch(envelope: Envelope, c: TypeCounters, bytes = 0): void {
    const published = this.publishOf(envelope);
    // Where history takes the envelope at once, no promise is made for it: a
    // promise and its callbacks per message were a visible share of the
    // ingest's CPU and garbage.
    const kept = this.immediateHistory ? this.writeAtOnce(this.immediateHistory, envelope) : this.writeOf(envelope);
    // The frame's size is held until both the bus and history are done with the envelope.
    const hold: BytesHold = { halves: kept ? 2 : 1, bytes };
    this.bytesPending += bytes;
    this.publishLater(published, envelope, c, hold);
    if (kept) this.keepLater(kept, envelope, hold);
    this.checkPressure();
  }

  private publishOf(envelope: Envelope): Promise<void | PublishOutcome> {
    try {
      return this.opts.publisher.publish(envelope);
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  /** null when history took the envelope at once; otherwise the wait for room. */
  private writeAtOnce(history: ImmediateHistorySink, envelope: Envelope): Promise<void> | null {
    try {
      return history.writeNow(envelope) ?? null;
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  private writeOf(envelope: Envelope): Promise<void> {
    try {
      return this.opts.history.write(envelope);
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  private publishLater(published: Promise<void | PublishOutcome>, envelope: Envelope, c: TypeCounters, hold: BytesHold): void {
    this.publishPending++;
    this.unsettled++;
    // One callback per outcome and no promise built on top of it: chains per
    // envelope (then, finally, allSettled, a set of pending promises) were a
    // large share of the garbage at tens of thousands of messages a second.
    published.then(
      (outcome) => {
        c.inFlight--;
        if (outcome === 'outboxed') c.outboxed++;
        else c.published++;
        this.halfDone(hold);
        this.publishSettled();
      },
      (err: Error) => {
        c.inFlight--;
        this.halfDone(hold);
        this.publishFailed(envelope, c, err);
        this.publishSettled();
      },
    );
  }

  private keepLater(kept: Promise<void>, envelope: Envelope, hold: BytesHold): void {
    this.historyPending++;
    this.unsettled++;
    kept.then(
      () => {
        this.halfDone(hold);
        this.historySettled();
      },
      (err: Error) => {
        this.halfDone(hold);
        // The sink never drops silently on its own; an error here is a bug or a
        // closed sink, and the envelope is still on the bus.
        this.opts.log.error('history write failed', { envelopeId: envelope.id, error: err.message });
        this.historySettled();
      },
    );
  }

  private halfDone(hold: BytesHold): void {
    if (--hold.halves === 0) this.bytesPending -= hold.bytes;
  }

  /** The bus refused the envelope: it becomes a dead letter carrying it whole. Never throws (it runs in a settlement). */
  private publishFailed(envelope: Envelope, c: TypeCounters, err: Error): void {
    try {
      this.opts.log.error('publish failed; dead-lettering the envelope', {
        envelopeId: envelope.id,
        type: envelope.type,
        error: err.message,
      });
      const dl = makeDeadLetter(
        'publish-failed',
        err.message,
        envelopeText(envelope),
        this.originOf(envelope),
        entryForMessageType(envelope.type),
      );
      this.deadLetter(dl, c, envelope);
    } catch (again) {
      this.opts.log.error('dead letter could not be made', { envelopeId: envelope.id, error: errorText(again) });
    }
  }

  private originOf(e: Envelope): Origin {
    return { source: e.source, protocol: e.protocol, connectionId: e.connectionId, instanceId: e.instanceId };
  }

  private deadLetter(dl: DeadLetter, c: TypeCounters, envelope?: Envelope): void {
    c.deadLettered++;
    this.deadLetterReasons.set(dl.reason, (this.deadLetterReasons.get(dl.reason) ?? 0) + 1);
    this.opts.log.warn('dead letter', {
      reason: dl.reason,
      detail: dl.detail,
      type: dl.type,
      deadLetterId: dl.id,
      envelopeId: envelope?.id,
      rawPreview: dl.raw.slice(0, 200),
    });
    this.publishPending++;
    this.historyPending++;
    this.unsettled += 2;
    this.checkPressure();
    handOver(this.opts.publisher, 'publishDeadLetter', dl).then(
      () => this.publishSettled(),
      (err: Error) => {
        // The bus is down for dead letters too: the history sink still has the
        // dead letter (below), and this count makes the gap visible.
        this.lostAfterDeadLetterFailure++;
        this.opts.log.error('dead letter could not be published', { deadLetterId: dl.id, error: err.message });
        this.publishSettled();
      },
    );
    handOver(this.opts.history, 'writeDeadLetter', dl).then(
      () => this.historySettled(),
      (err: Error) => {
        this.opts.log.error('dead letter could not be kept in history', { deadLetterId: dl.id, error: err.message });
        this.historySettled();
      },
    );
  }

  private publishSettled(): void {
    this.publishPending--;
    this.settledOne();
  }

  private historySettled(): void {
    this.historyPending--;
    this.settledOne();
  }

  private settledOne(): void {
    if (--this.unsettled === 0 && this.idleWaiters.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
    this.checkPressure();
  }

  private checkPressure(): void {
    const pending = Math.max(this.publishPending, this.historyPending);
    const over = pending >= this.maxInFlight || this.bytesPending >= this.maxInFlightBytes;
    const under = pending <= this.maxInFlight / 2 && this.bytesPending <= this.maxInFlightBytes / 2;
    if (!this.paused && over) {
      this.paused = true;
      this.opts.log.warn('downstream is slow; pausing the Tote socket', {
        publishPending: this.publishPending,
        historyPending: this.historyPending,
        bytesPending: this.bytesPending,
      });
      this.opts.onPressure?.(true);
    } else if (this.paused && under) {
      this.paused = false;
      this.opts.log.info('downstream caught up; resuming the Tote socket', {
        publishPending: this.publishPending,
        historyPending: this.historyPending,
      });
      this.opts.onPressure?.(false);
    }
  }

  /**
   * Resolves true when everything handed over so far has settled (published,
   * dead-lettered or failed), or false if `timeoutMs` passes first: a bus that
   * never answers must not hold a stop or a shutdown for ever.
   */
  async drain(timeoutMs = Infinity): Promise<boolean> {
    if (this.unsettled === 0) return true;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    return settlesBy(idle, Date.now() + timeoutMs);
  }

  stats() {
    const types: Record<string, TypeCounters> = {};
    for (const [t, c] of this.counters) types[t] = { ...c };
    const totals = { received: 0, published: 0, outboxed: 0, deadLettered: 0, inFlight: 0 };
    for (const c of this.counters.values()) {
      totals.received += c.received;
      totals.published += c.published;
      totals.outboxed += c.outboxed;
      totals.deadLettered += c.deadLettered;
      totals.inFlight += c.inFlight;
    }
    return {
      totals,
      types,
      deadLetterReasons: Object.fromEntries(this.deadLetterReasons),
      deadLettersNotPublished: this.lostAfterDeadLetterFailure,
      publishBacklog: this.publishPending,
      bytesInFlight: this.bytesPending,
      historyPending: this.historyPending,
      paused: this.paused,
    };
  }
}

/**
 * `target[method](arg)`, with a synchronous throw turned into a rejection, so
 * every hand-over settles the same way.
 */
function handOver<K extends string, A, R>(target: Record<K, (arg: A) => Promise<R>>, method: K, arg: A): Promise<R> {
  try {
    return target[method](arg);
  } catch (err) {
    return Promise.reject(asError(err));
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The envelope as text for a dead letter; never throws (the payload's shape was checked, but be sure). */
function envelopeText(e: Envelope): string {
  try {
    return JSON.stringify(e);
  } catch (err) {
    return JSON.stringify({ id: e.id, type: e.type, keys: e.keys, note: `payload not serialisable: ${errorText(err)}` });
  }
}

function blank(): TypeCounters {
  return { received: 0, reconciled: 0, published: 0, outboxed: 0, deadLettered: 0, inFlight: 0, lastMessageAt: null };
}
