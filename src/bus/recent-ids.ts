/**
 * The last `capacity` ids seen: the consumer drops Pub/Sub redeliveries
 * (at-least-once) with it, the day-card relay asks once per unknown id. A Set
 * keeps insertion order, so evicting the oldest is O(1); an id older than the
 * window counts as new again.
 */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new RangeError('capacity must be at least 1');
  }

  /** True when the id was new (and is now remembered). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as string);
    return true;
  }

  get size(): number {
    return this.ids.size;
  }
}
