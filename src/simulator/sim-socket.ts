/**
 * One client socket of either protocol, with the two things the faults need
 * at the lowest level: a silence gate (nothing leaves the socket, keep-alives
 * included, while it is silenced) and a write bound (a client whose unsent
 * bytes pass MAX_BUFFERED_BYTES is cut off instead of buffering without end).
 */
import type { RawData, WebSocket } from 'ws';

export type WireProtocol = 'graphql-ws' | 'graphql-transport-ws';

export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** Both protocols' servers serialise id first, then type: a prefix tells a data frame from chatter. */
const DATA_FRAME = /^\{"id":"[^"]*","type":"(?:data|next)"/;

export interface SocketCounters {
  silencedDrops: number;
  /** Data frames (graphql-ws `data`, graphql-transport-ws `next`) handed to a socket. */
  dataFramesWritten: number;
  slowConsumerDisconnects: number;
}

/** A received frame as text, whichever of its three shapes `ws` hands over (fragments arrive as an array). */
export function frameText(data: RawData): string {
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
}

export class SimSocket {
  private silentUntil = 0;

  constructor(
    readonly ws: WebSocket,
    readonly protocol: WireProtocol,
    private readonly counters: SocketCounters,
  ) {}

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  get silent(): boolean {
    return Date.now() < this.silentUntil;
  }

  silence(ms: number): void {
    this.silentUntil = Date.now() + ms;
  }

  private mayWrite(): boolean {
    if (!this.open) return false;
    if (this.silent) {
      this.counters.silencedDrops++;
      return false;
    }
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.dropSlow();
      return false;
    }
    return true;
  }

  /** Sends unless silenced or closed; returns whether the text went out. */
  send(text: string): boolean {
    if (!this.mayWrite()) return false;
    this.ws.send(text);
    this.countData(text);
    return true;
  }

  /** As send, resolving once the frame is written (graphql-ws waits on this, which is its backpressure). */
  sendAndWait(text: string): Promise<void> {
    if (!this.mayWrite()) return Promise.resolve();
    const written = new Promise<void>((resolve) => this.ws.send(text, () => resolve()));
    this.countData(text);
    return written;
  }

  private countData(text: string): void {
    if (DATA_FRAME.test(text)) this.counters.dataFramesWritten++;
  }

  /** A client that cannot keep up is disconnected (1013 "try again later"). */
  dropSlow(): void {
    if (!this.open) return;
    this.counters.slowConsumerDisconnects++;
    this.ws.close(1013, 'Slow consumer');
  }
}
