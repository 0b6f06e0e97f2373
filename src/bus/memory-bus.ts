import type { DeadLetter, Envelope } from '../envelope/envelope.js';
import { log } from '../log/logger.js';
import type { DayCard } from '../day-card/day-card.js';
import type { DayCardListener, DayCardPublisher, DayCardSource, EnvelopeListener, EnvelopePublisher, EnvelopeSource } from './types.js';

/**
 * The in-process stand-in for Pub/Sub: the subscriber publishes, the SSE
 * service listens, in one process. Delivery is synchronous, so nothing
 * queues here; each listener bounds its own backlog (the SSE hub does).
 * Dead letters are kept in a ring of `deadLettersKept` (oldest dropped from
 * memory first; every one was also logged and counted).
 */
export class MemoryBus implements EnvelopePublisher, EnvelopeSource, DayCardPublisher, DayCardSource {
  readonly name = 'memory';
  private readonly listeners = new Set<EnvelopeListener>();
  private readonly cardListeners = new Set<DayCardListener>();
  /** Only the latest card is kept, for listeners that join later. */
  private latestCard: { card: DayCard; fetchedAt: number } | null = null;
  private readonly deadLetterRing: DeadLetter[] = [];
  private published = 0;
  private deadLettered = 0;

  constructor(private readonly deadLettersKept = 1000) {}

  async connect(): Promise<void> {}

  async publish(envelope: Envelope): Promise<void> {
    this.published++;
    for (const listener of this.listeners) {
      try {
        listener(envelope);
      } catch (err) {
        // One broken listener must not stop the others or the publisher.
        log.error('memory bus listener failed', { err, envelopeId: envelope.id });
      }
    }
  }

  async publishDeadLetter(deadLetter: DeadLetter): Promise<void> {
    this.deadLettered++;
    this.deadLetterRing.push(deadLetter);
    if (this.deadLetterRing.length > this.deadLettersKept) this.deadLetterRing.shift();
  }

  async publishDayCard(card: DayCard): Promise<void> {
    // Stamped as the Pub/Sub publisher stamps its fetchedAt attribute; never behind the previous card.
    const fetchedAt = Math.max(Date.now(), (this.latestCard?.fetchedAt ?? 0) + 1);
    this.latestCard = { card, fetchedAt };
    for (const listener of this.cardListeners) {
      try {
        listener(card, fetchedAt);
      } catch (err) {
        log.error('memory bus day-card listener failed', { err });
      }
    }
  }

  subscribeDayCards(listener: DayCardListener): () => void {
    this.cardListeners.add(listener);
    if (this.latestCard) listener(this.latestCard.card, this.latestCard.fetchedAt);
    return () => this.cardListeners.delete(listener);
  }

  subscribe(listener: EnvelopeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  recentDeadLetters(): readonly DeadLetter[] {
    return this.deadLetterRing;
  }

  stats() {
    return { published: this.published, deadLettered: this.deadLettered, listeners: this.listeners.size };
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {
    this.listeners.clear();
    this.cardListeners.clear();
  }
  backlog(): number {
    return 0;
  }
}
