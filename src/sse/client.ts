import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { StreamFilter } from './filter.js';
import type { SseFrame } from './frame.js';
import { socketKey } from './send-queues.js';

export interface ClientLimits {
  /**
   * Bytes this client may pin before it is dropped: queued here, buffered by
   * the socket, and (where the kernel's queues can be read) handed to the
   * kernel but not yet acknowledged by the peer.
   */
  readonly maxBufferBytes: number;
  /** Events queued here past which the client is dropped. */
  readonly maxPendingEvents: number;
}

export type EndReason = 'client-closed' | 'slow' | 'lifetime' | 'shutdown' | 'error';

/**
 * One open event stream. Frames are shared buffers (serialized once per
 * event for all clients); this class only queues references to them and
 * writes them straight to the socket, already framed as HTTP/1.1 chunks.
 *
 * Backpressure: while the socket refuses more (`write` returned false)
 * frames wait in a queue bounded by `maxBufferBytes` and `maxPendingEvents`.
 * Past either bound the client is disconnected rather than slowed: a stalled
 * browser must not hold the server's memory, and EventSource reconnects with
 * Last-Event-ID and resumes from history.
 *
 * The socket only refuses once the kernel's send buffer is full, which for
 * a reader that stopped reading is megabytes later. So the hub also checks
 * every few seconds what the kernel holds unacknowledged for this socket
 * (`checkStall`): a client over `maxBufferBytes` counting those bytes, whose
 * kernel backlog did not shrink since the last check, is cut too.
 *
 * Replay frames on resume are queued separately and do not count towards the
 * bound: they already live in the history, so queueing them costs only
 * references, and a large replay must not get a healthy client dropped.
 */
export class SseClient {
  private readonly replay: SseFrame[] = [];
  private replayPos = 0;
  /** Live frames from `livePos` to `liveEnd`; the array is reused, not reallocated, between bursts. */
  private live: (SseFrame | undefined)[] = [];
  private livePos = 0;
  private liveEnd = 0;
  private liveBytes = 0;
  private blocked = false;
  private ended = false;
  private readonly socket: Socket | null;
  /** HTTP/1.1 responses are chunked; an HTTP/1.0 one is the raw bytes until the socket closes. */
  private readonly chunked: boolean;
  /** This socket's line in the kernel's table (see KernelSendQueues); null when unknown. */
  readonly kernelKey: string | null;
  /** Bytes the kernel held unacknowledged at the last stall check; -1 before the first. */
  private unackedAtCheck = -1;
  /** Set while the hub has this client in its list of streams to flush. */
  dirty = false;
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
    this.socket = res.socket;
    this.chunked = res.chunkedEncoding;
    this.kernelKey = socketKey(this.socket?.remoteAddress, this.socket?.remotePort);
    // Shared listeners that find their client, rather than three closures per stream: with tens of
    // thousands of idle streams those closures (and the response's listener table grown by an
    // 'error' key) were a fifth of the heap each stream held. Socket errors close the response too.
    owners.set(res, this);
    res.on('close', onResponseClose);
    if (this.socket) {
      owners.set(this.socket, this);
      this.socket.on('drain', onSocketDrain);
      this.socket.on('error', onSocketError);
    }
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /** The port the client connected to: which of the kernel's socket lines are ours. */
  get localPort(): number | undefined {
    return this.socket?.localPort;
  }

  get pendingBytes(): number {
    return this.liveBytes;
  }

  get pendingEvents(): number {
    return this.liveEnd - this.livePos;
  }

  /** Queues replayed history; not bounded here (see class comment). */
  enqueueReplay(frame: SseFrame, id: string): void {
    if (this.ended) return;
    this.replay.push(frame);
    this.delivered++;
    this.lastEventId = id;
  }

  /**
   * Queues a live frame. Returns false when the client was dropped for being
   * too slow (the caller counts it); the frame is then discarded.
   */
  enqueue(frame: SseFrame, id?: string): boolean {
    if (this.ended) return true;
    if (this.liveEnd === this.live.length) this.live.push(frame);
    else this.live[this.liveEnd] = frame;
    this.liveEnd++;
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
   * written as it is, never copied into a per-client batch; a burst is
   * corked into one writev, and what waits in the socket's buffer are
   * references, not copies.
   */
  flush(): void {
    const socket = this.socket;
    if (this.ended || this.blocked || !socket || socket.destroyed) return;
    const corked = this.replay.length - this.replayPos + this.pendingEvents > 1;
    if (corked) socket.cork();
    for (;;) {
      const frame = this.nextFrame();
      if (!frame) break;
      // A false return still took the frame; it asks for no more until 'drain'.
      if (!socket.write(this.chunked ? frame.chunk : frame.bytes)) {
        this.blocked = true;
        break;
      }
    }
    if (corked) socket.uncork();
  }

  private nextFrame(): SseFrame | null {
    if (this.replayPos < this.replay.length) {
      const f = this.replay[this.replayPos++]!;
      if (this.replayPos === this.replay.length) {
        this.replay.length = 0;
        this.replayPos = 0;
      }
      return f;
    }
    // Live frames only once the replay is out, so the client sees history in order.
    if (this.livePos === this.liveEnd) return null;
    const f = this.live[this.livePos]!;
    this.live[this.livePos++] = undefined;
    this.liveBytes -= f.length;
    if (this.livePos === this.liveEnd) {
      this.livePos = this.liveEnd = 0;
      // A backlog's array is not kept once it has drained: idle clients stay small.
      if (this.live.length > SPARE_SLOTS) this.live = [];
    } else if (this.livePos > 1024 && this.livePos * 2 > this.liveEnd) {
      // Compact now and then so a steady trickle does not grow the array forever.
      this.live.copyWithin(0, this.livePos, this.liveEnd);
      this.live.fill(undefined, this.liveEnd - this.livePos, this.liveEnd);
      this.liveEnd -= this.livePos;
      this.livePos = 0;
    }
    return f;
  }

  /**
   * Called by the hub every few seconds with the bytes the kernel holds
   * unacknowledged for this socket. Returns true (and ends the client as
   * slow) when the client pins more than its bound counting those bytes and
   * that kernel backlog did not shrink since the previous check: it has
   * stopped reading, or reads slower than it is sent to. A client draining
   * a large replay over a slow link shrinks its backlog and is kept.
   */
  checkStall(kernelUnacked: number): boolean {
    const socket = this.socket;
    if (this.ended || !socket) return false;
    // Falling behind means the kernel's unacknowledged bytes did not shrink between checks. "Any
    // acknowledgement" is not enough: a receiver that stopped reading still acknowledges a trickle
    // while its kernel compacts the small segments queued for it (seen with 10,000 streams).
    const shrank = this.unackedAtCheck >= 0 && kernelUnacked < this.unackedAtCheck;
    const first = this.unackedAtCheck < 0;
    this.unackedAtCheck = kernelUnacked;
    const pinned = this.liveBytes + socket.writableLength + kernelUnacked;
    if (pinned <= this.limits.maxBufferBytes || first || shrank) return false;
    this.end('slow');
    return true;
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
    } else if (reason === 'slow') {
      // A reset, not a close: a closed socket keeps its unsent bytes in the kernel (as an orphan)
      // until they time out, which for a peer that stopped reading is minutes; a reset frees them now.
      if (this.socket && !this.socket.destroyed) this.socket.resetAndDestroy();
      else this.res.destroy();
    } else if (reason === 'error' || blocked) {
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
    // The socket may outlive the stream (HTTP keep-alive after end()): it must not keep this client.
    this.socket?.off('drain', onSocketDrain);
    this.socket?.off('error', onSocketError);
    this.replay.length = 0;
    this.live = [];
    this.replayPos = this.livePos = this.liveEnd = this.liveBytes = 0;
  }

  /** The socket took what it had buffered: write on. */
  drained(): void {
    this.blocked = false;
    this.flush();
  }
}

const owners = new WeakMap<object, SseClient>();

function onSocketDrain(this: Socket): void {
  owners.get(this)?.drained();
}

function onSocketError(this: Socket): void {
  owners.get(this)?.end('error');
}

function onResponseClose(this: ServerResponse): void {
  owners.get(this)?.end('client-closed');
}

/** Slots a drained queue may keep for the next burst; past it the array is dropped (16 references, about 150 bytes). */
const SPARE_SLOTS = 16;
/** Time for an ended stream's last bytes to leave before the socket is cut: a healthy client takes milliseconds. */
const END_GRACE_MS = 2_000;
