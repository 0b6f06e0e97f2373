import type { BusHealth } from '../bus/types.js';
import type { ClientStatus } from '../tote/client.js';

export interface Readiness {
  /** What /ready answers: 200 when true, 503 when false. */
  readonly ready: boolean;
  /**
   * `serving`: connected and subscribed; `idle`: outside the daily window and
   * correctly not connected; `standby`: another instance holds the Tote lease
   * and this one waits to take over; `not-ready`: should be serving and is not.
   */
  readonly state: 'serving' | 'idle' | 'standby' | 'not-ready';
  readonly reasons: readonly string[];
}

/**
 * Readiness of the subscriber, as opposed to liveness (/health): whether it is
 * doing what it should be doing at this moment. Inside the window that means
 * the Tote socket is acknowledged, every operation is streaming and the bus
 * takes messages; outside it, that the client is stopped (a manual /start
 * outside the window is serving, and judged like inside).
 */
export function readiness(input: {
  client: ClientStatus;
  inWindow: boolean;
  bus: BusHealth | null;
  lease?: { state: string; holder?: string | null };
}): Readiness {
  const { client, inWindow, bus, lease } = input;
  // During a deploy the new instance waits for the old one's lease: correctly not connected.
  if (client.state === 'stopped' && lease?.state === 'standby') {
    return {
      ready: true,
      state: 'standby',
      reasons: [`another instance (${lease.holder ?? 'unknown'}) holds the Tote lease; this one takes over when it is released or expires`],
    };
  }
  if (client.state === 'stopped' && lease?.state === 'fenced') {
    return {
      ready: false,
      state: 'not-ready',
      reasons: ['the Tote lease could not be renewed in time, so this instance stopped consuming (fenced) until it holds the lease again'],
    };
  }
  if (client.state === 'stopped') {
    return inWindow
      ? {
          ready: false,
          state: 'not-ready',
          reasons: ['the Tote client is stopped inside the daily window (POST /start, or wait for the window check)'],
        }
      : { ready: true, state: 'idle', reasons: ['outside the daily window: correctly idle'] };
  }
  const reasons: string[] = [];
  if (client.state !== 'running') {
    reasons.push(`the Tote connection is ${client.state}${client.lastError ? ` (last error: ${client.lastError})` : ''}`);
  } else {
    const notStreaming = Object.entries(client.operations).filter(([, op]) => op.state !== 'active');
    if (notStreaming.length) {
      reasons.push(
        `${notStreaming.length} of ${Object.keys(client.operations).length} subscriptions are not streaming: ${notStreaming.map(([root, op]) => `${root} ${op.state}`).join(', ')}`,
      );
    }
  }
  if (bus && !bus.ok) reasons.push(`the bus is not taking messages${bus.detail ? `: ${bus.detail}` : ''}`);
  return reasons.length ? { ready: false, state: 'not-ready', reasons } : { ready: true, state: 'serving', reasons: [] };
}
