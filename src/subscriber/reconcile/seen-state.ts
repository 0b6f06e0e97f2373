/**
 * The last state the feed gave of each entity today, per reconciled message
 * type, cut to the catalog shape: what a reconciliation compares the
 * gateway's answer with. Live and reconciled envelopes both update it.
 *
 * Bounded: at most `maxEntities`; past that the least recently updated entity
 * is forgotten (counted in `evicted`), and the next reconciliation sees it as
 * never announced and emits its state again: a duplicate, never a loss.
 * Everything is forgotten when the day (in the subscriber's time zone) turns.
 */
import { entryForMessageType } from '../../catalog/catalog.js';
import type { Envelope } from '../../envelope/envelope.js';
import { catalogShaped, entityKeyOf, isReconciledType } from './mapping.js';

export interface SeenEntity {
  readonly payload: Record<string, unknown>;
  /** Order of the update; a reconciliation ignores entities updated after its fetch began. */
  readonly seq: number;
}

export class SeenState {
  private readonly byKey = new Map<string, SeenEntity>();
  private seq = 0;
  private day: string;
  evicted = 0;

  constructor(
    private readonly maxEntities: number,
    private readonly today: () => string,
  ) {
    this.day = today();
  }

  /** Sequence number of the latest update. */
  get sequence(): number {
    return this.seq;
  }

  get size(): number {
    return this.byKey.size;
  }

  observe(e: Envelope): void {
    if (e.test || !isReconciledType(e.type)) return;
    const entry = entryForMessageType(e.type)!;
    const id = entityKeyOf(entry, e.keys);
    if (id === undefined) return;
    this.turnDay();
    const key = `${e.type}|${id}`;
    this.byKey.delete(key);
    this.byKey.set(key, { payload: catalogShaped(entry, e.payload), seq: ++this.seq });
    if (this.byKey.size > this.maxEntities) {
      this.byKey.delete(this.byKey.keys().next().value!);
      this.evicted++;
    }
  }

  get(type: string, entityKey: string): SeenEntity | undefined {
    this.turnDay();
    return this.byKey.get(`${type}|${entityKey}`);
  }

  private turnDay(): void {
    const day = this.today();
    if (day === this.day) return;
    this.day = day;
    this.byKey.clear();
  }
}
