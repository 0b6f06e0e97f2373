import type { ServerResponse } from 'node:http';
import type { StreamFilter } from './filter.js';

export interface ClientLimits {
  /** Bytes queued here (not yet accepted by the socket) past which the client is dropped. */
  readonly maxBufferBytes: number;
  /** Events queued here past which the client is dropped. */
  readonly maxPendingEvents: number;
}

export type EndReason = 'client-closed' | 'slow' | 'lifetime' | 'shutdown' | 'error';

/**
 * One open event stream. Frames are shared buffers (serialized once per
 * event for all clients); this class only queues references to them.
 *
 * Backpressure: while the socket refuses more (`res.write` returned false)
 * frames wait in a queue bounded by `maxBufferBytes` and `maxPendingEvents`.
 * Past either bound the client is disconnected rather than slowed: a stalled
 * browser must not hold the server's memory, and EventSource reconnects with
 * Last-Event-ID and resumes from history. Memory per client is therefore at
 * most the bound, plus what the socket's buffer takes before it pushes back
 * (its 16 KiB high-water mark, in references to the shared frames), plus
 * references to the frames of a single bus burst (shared by all clients).
 *
 * Replay frames on resume are queued separately and do not count towards the
 * bound: they already live in the history, so queueing them costs only
 * references, and a large replay must not get a healthy client dropped.
 */
export class SseClient {
  private readonly replay: Buffer[] = [];
  private replayPos = 0;
  private readonly live: Buffer[] = [];
  private livePos = 0;
  private liveBytes = 0;
  private blocked = false;
  private ended = false;
  /** Events (not comments) queued for this client. */
  delivered = 0;
  lastEventId: string | undefined;

  constructor(
    readonly id: number,
    private readonly res: ServerResponse,
    readonly filter: StreamFilter,
    private readonly limits: ClientLimits,
    /** Epoch ms after which the server ends the stream; 0 = never. */
    readonly deadline: number,
    private readonly onEnd: (client: SseClient, reason: EndReason) => void,
  ) {
    res.on('drain', this.onDrain);
    res.on('close', this.onClose);
    res.on('error', this.onError);
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  get pendingBytes(): number {
    return this.liveBytes;
  }

  get pendingEvents(): number {
    return this.live.length - this.livePos;
  }

  /** Queues replayed history; not bounded here (see class comment). */
  enqueueReplay(frame: Buffer, id: string): void {
    if (this.ended) return;
    this.replay.push(frame);
    this.delivered++;
    this.lastEventId = id;
  }

  /**
   * Queues a live frame. Returns false when the client was dropped for being
   * too slow (the caller counts it); the frame is then discarded.
   */
  enqueue(frame: Buffer, id?: string): boolean {
    if (this.ended) return true;
    this.live.push(frame);
    this.liveBytes += frame.length;
    if (id !== undefined) {
      this.delivered++;
      this.lastEventId = id;
    }
    // Judged only while the socket is refusing data: a burst queued within one tick on a healthy
    // client is written at the next flush (the frames are shared, so the burst costs references).
    if (this.blocked && (this.liveBytes > this.limits.maxBufferBytes || this.pendingEvents > this.limits.maxPendingEvents)) {
      this.end('slow');
      return false;
    }
    return true;
  }

  /**
   * Writes queued frames until the socket pushes back. Each shared frame is
   * written as it is, never copied into a per-client batch: Node corks the
   * socket until the end of the tick, so a burst still leaves in one writev,
   * and what waits in the socket's buffer are references, not copies.
   */
  flush(): void {
    while (!this.ended && !this.blocked) {
      const frame = this.nextFrame();
      if (!frame) return;
      if (!this.res.write(frame)) this.blocked = true;
    }
  }

  private nextFrame(): Buffer | null {
    if (this.replayPos < this.replay.length) {
      const b = this.replay[this.replayPos++]!;
      if (this.replayPos === this.replay.length) {
        this.replay.length = 0;
        this.replayPos = 0;
      }
      return b;
    }
    // Live frames only once the replay is out, so the client sees history in order.
    if (this.livePos === this.live.length) return null;
    const b = this.live[this.livePos]!;
    this.live[this.livePos++] = EMPTY;
    this.liveBytes -= b.length;
    if (this.livePos === this.live.length) {
      this.live.length = 0;
      this.livePos = 0;
    } else if (this.livePos > 1024 && this.livePos * 2 > this.live.length) {
      // Compact now and then so a steady trickle does not grow the array forever.
      this.live.splice(0, this.livePos);
      this.livePos = 0;
    }
    return b;
  }

  /**
   * Ends the stream; safe to call more than once and from any disconnect
   * path. A socket that is refusing data would never drain an end() (and the
   * server has no socket timeouts), so it is cut at once; an end() that has
   * not finished within END_GRACE_MS is cut too. The client resumes by
   * Last-Event-ID either way.
   */
  end(reason: EndReason): void {
    if (this.ended) return;
    this.ended = true;
    const blocked = this.blocked;
    this.release();
    if (reason === 'client-closed' || this.res.destroyed) {
      // The socket is gone already: nothing to end, and no timer may hold the response.
    } else if (reason === 'slow' || reason === 'error' || blocked) {
      this.res.destroy();
    } else if (!this.res.writableEnded) {
      this.res.end();
      const res = this.res;
      const timer = setTimeout(() => {
        if (!res.writableFinished) res.destroy();
      }, END_GRACE_MS);
      timer.unref();
      res.once('close', () => clearTimeout(timer));
    }
    this.onEnd(this, reason);
  }

  private release(): void {
    this.res.off('drain', this.onDrain);
    this.replay.length = 0;
    this.live.length = 0;
    this.replayPos = this.livePos = this.liveBytes = 0;
  }

  private readonly onDrain = (): void => {
    this.blocked = false;
    this.flush();
  };

  private readonly onClose = (): void => {
    this.end('client-closed');
  };

  private readonly onError = (): void => {
    this.end('error');
  };
}

const EMPTY = Buffer.alloc(0);
/** Time for an ended stream's last bytes to leave before the socket is cut: a healthy client takes milliseconds. */
const END_GRACE_MS = 2_000;
