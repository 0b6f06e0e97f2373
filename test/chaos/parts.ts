import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import type { Envelope } from '../../src/envelope/envelope.js';
import type { HistorySink } from '../../src/history/types.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-stream.js';
import type { Harness } from '../helpers/subscriber-harness.js';
import type { Row } from './scenarios.js';

/** One bus for several instances, as one Pub/Sub project is: an instance's close leaves it open for the others. */
export class SharedBus extends MemoryBus {
  override async close(): Promise<void> {}
}

/** One warehouse for several instances: a real sink, closed once by its owner, not by each instance. */
export function sharedHistory(sink: HistorySink): HistorySink {
  return {
    name: sink.name,
    connect: async () => undefined,
    write: (e) => sink.write(e),
    writeDeadLetter: (d) => sink.writeDeadLetter(d),
    flush: () => sink.flush(),
    close: () => sink.flush(),
    status: () => sink.status(),
  };
}

/** A Tote message's identity: what it says, not the id we gave it (two sockets give two ids). */
export const identity = (e: Envelope): string => JSON.stringify(e.payload);

/** Copies per identity beyond the first. */
export function duplicatesOf(identities: Iterable<string>): number {
  const seen = new Set<string>();
  let dup = 0;
  for (const i of identities) {
    if (seen.has(i)) dup++;
    else seen.add(i);
  }
  return dup;
}

/** Messages on one topic as a reader sees them: every copy, in arrival order. */
export class TopicReader {
  readonly copies: { id: string; key: string }[] = [];
  private readonly subs: Subscription[] = [];
  constructor(
    private readonly admin: PubSub,
    private readonly topic: string,
  ) {}
  async listen(name: string): Promise<void> {
    const [sub] = await this.admin.topic(this.topic).createSubscription(name, { enableMessageOrdering: true });
    sub.on('message', (m: Message) => {
      this.copies.push({ id: m.attributes.envelopeId!, key: m.orderingKey ?? '' });
      m.ack();
    });
    this.subs.push(sub);
  }
  distinct(): Set<string> {
    return new Set(this.copies.map((c) => c.id));
  }
  async close(): Promise<void> {
    for (const s of this.subs) await s.close();
  }
}

/** Samples this process's RSS until stopped; returns the peak in MB. */
export function rssSampler(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  return {
    stop() {
      clearInterval(t);
      return Math.round(Math.max(peak, process.memoryUsage().rss) / 1024 / 1024);
    },
  };
}

/**
 * An SSE reader that reconnects with Last-Event-ID when its stream ends, as
 * EventSource does (a slow reader is disconnected by the server's per-client
 * bound and expected to resume from the history).
 */
export class ResumingReader {
  private readonly streams: SseStream[] = [];
  private timer: NodeJS.Timeout | null = null;
  private opening = false;
  reconnects = 0;
  constructor(private readonly url: string) {}
  async start(): Promise<void> {
    this.streams.push(await openStream(this.url));
    this.timer = setInterval(() => void this.check(), 100);
  }
  private async check(): Promise<void> {
    const last = this.streams[this.streams.length - 1]!;
    if (!last.ended || this.opening) return;
    this.opening = true;
    try {
      const id = [...this.streams].reverse().find((s) => s.lastEventId)?.lastEventId;
      this.streams.push(await openStream(this.url, id ? { 'last-event-id': id } : {}));
      this.reconnects++;
    } catch {
      /* the next tick tries again, as EventSource retries */
    } finally {
      this.opening = false;
    }
  }
  events(type: string): SseEvent[] {
    return this.streams.flatMap((s) => s.events.filter((e) => e.event === type));
  }
  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const s of this.streams) s.req.destroy();
  }
}

/** The row of a scenario fed on an open socket to one subscriber on the in-memory bus: lost is what neither published nor dead-lettered. */
export function feedRow(scenario: string, sent: number, h: Harness, peakRssMb: number, note: string): Row {
  const t = h.service.status().totals;
  return {
    scenario,
    sent,
    received: t.received,
    published: t.published,
    stored: null,
    deadLettered: t.deadLettered,
    lost: sent - t.published - t.deadLettered,
    duplicated: duplicatesOf(h.envelopes.map(identity)),
    peakRssMb,
    note,
  };
}
