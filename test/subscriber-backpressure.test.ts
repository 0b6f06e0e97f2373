import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import type { Envelope } from '../src/envelope/envelope.js';
import { waitFor } from './helpers/ports.js';
import { startHarness, type Harness } from './helpers/subscriber-harness.js';

/**
 * A bus that stops confirming publishes until released, like Pub/Sub during
 * an incident. It is a real EnvelopePublisher (the in-process bus), held back
 * at its edge.
 */
class StalledBus extends MemoryBus {
  private gate: Promise<void> | null = null;
  private open: () => void = () => undefined;
  pending = 0;
  stall() {
    this.gate = new Promise((r) => (this.open = r));
  }
  release() {
    this.gate = null;
    this.open();
  }
  override async publish(e: Envelope): Promise<void> {
    if (this.gate) {
      this.pending++;
      await this.gate;
      this.pending--;
    }
    return super.publish(e);
  }
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('subscriber under a stalled bus', () => {
  it('stops reading from Tote at the in-flight limit instead of growing memory, then catches up losing nothing', async () => {
    const bus = new StalledBus();
    const arrived: Envelope[] = [];
    bus.subscribe((e) => arrived.push(e));
    h = await startHarness({ publisher: bus, maxInFlight: 50, env: { TOTE_LIVENESS_TIMEOUT_MS: '1500' } });
    h.service.client.start();
    // Running means acked; the simulator must also have every operation before a burst reaches us.
    await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.stats().operations === 15, {
      what: 'connected and subscribed',
    });

    bus.stall();
    const sent = h.sim.faults.burst(2_000);
    expect(sent).toBe(2_000);
    await waitFor(() => h!.service.client.status().paused, { timeoutMs: 60_000, what: 'the socket to pause' });
    // Held while paused: the limit plus the frames already in the socket's
    // current read (ws pauses after the chunk it is parsing), not the burst.
    await new Promise((r) => setTimeout(r, 2_000)); // longer than the liveness interval: a paused socket is not "silent"
    const held = h.service.status().publish.backlog;
    expect(held).toBeLessThanOrEqual(250);
    expect(bus.pending).toBe(held);
    expect(h.service.client.status().reconnects).toBe(0);
    expect(h.logs.some((l) => l.includes('pausing the Tote socket'))).toBe(true);

    bus.release();
    await waitFor(() => arrived.filter((e) => e.type === 'PoolTotalChanged').length === 2_000, {
      timeoutMs: 120_000,
      what: () => `all 2000 pool totals (have ${arrived.length})`,
    });
    const status = h.service.status();
    expect(status.paused).toBe(false);
    expect(status.totals.received).toBe(status.totals.published);
    expect(status.totals.deadLettered).toBe(0);
    expect(new Set(arrived.map((e) => e.id)).size).toBe(arrived.length);
    expect(h.service.client.status().reconnects).toBe(0);
  }, 240_000);
});

describe('POST /stop with a bus that never answers', () => {
  it('answers within the shutdown grace and says what is still pending, instead of hanging', async () => {
    const bus = new StalledBus();
    h = await startHarness({ publisher: bus, env: { SHUTDOWN_GRACE_MS: '700' } });
    h.service.client.start();
    // Running means acked; the simulator must also have every operation before a burst reaches us.
    await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.stats().operations === 15, {
      what: 'connected and subscribed',
    });
    bus.stall();
    h.sim.faults.burst(20);
    await waitFor(() => bus.pending === 20, { what: 'twenty stuck publishes' });
    const res = await fetch(`${h.service.url}/stop`, { method: 'POST' });
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.flushed).toBe(false);
    expect(body.state).toBe('stopped');
    expect(body.totals.inFlight).toBe(20);
    expect(h.logs.some((l) => l.includes('stopped with work still pending'))).toBe(true);
    bus.release(); // let teardown finish
  });
});

describe('paused across a reconnect', () => {
  it('keeps the new socket paused while downstream is still saturated', async () => {
    const bus = new StalledBus();
    h = await startHarness({ publisher: bus, maxInFlight: 50, env: { TOTE_PROTOCOL: 'graphql-transport-ws' } });
    h.service.client.start();
    await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.stats().operations === 15, {
      what: 'connected and subscribed',
    });
    bus.stall();
    h.sim.faults.burst(500);
    await waitFor(() => h!.service.client.status().paused, { what: 'the socket to pause' });
    // The server drops the socket while we are paused (a deploy, say); the client pings, notices, reconnects.
    h.sim.faults.disconnectAll();
    await waitFor(
      () =>
        h!.service.client.status().reconnects === 1 && h!.service.client.status().state === 'running' && h!.sim.stats().operations === 15,
      {
        timeoutMs: 15_000,
        what: 'reconnected and subscribed',
      },
    );
    h.sim.faults.burst(3_000);
    await new Promise((r) => setTimeout(r, 1_000));
    const backlog = h.service.status().publish.backlog;
    expect(h.service.client.status().paused).toBe(true);
    expect(backlog).toBeLessThanOrEqual(300); // the limit plus a socket read or two, not the 3,000 burst
    bus.release();
  });
});

describe('frames already sent when the subscriber stops', () => {
  it('are taken in and accounted for, not dropped with the socket', async () => {
    h = await startHarness();
    h.service.client.start();
    await waitFor(() => h!.service.client.status().state === 'running' && h!.sim.stats().operations === 15, {
      what: 'connected and subscribed',
    });
    const writtenBefore = h.sim.stats().written;
    h.sim.faults.burst(3_000);
    // "Already sent" means on the wire: the simulator writes each operation's queue one frame at a time,
    // and a loaded machine may still be writing when we would stop; what it had not written, an
    // unsubscribed operation drops, as any GraphQL server does.
    await waitFor(() => h!.sim.stats().written - writtenBefore === 3_000, {
      timeoutMs: 120_000,
      what: () => `the simulator to write the burst (written ${h!.sim.stats().written - writtenBefore})`,
    });
    await h.service.stopAndFlush();
    const delivered = h.sim.stats().delivered.onPoolTotalChanged ?? 0;
    const t = h.service.status().totals;
    expect(delivered).toBe(3_000);
    expect(t.received).toBe(delivered);
    expect(t.published).toBe(delivered);
    expect(h.envelopes).toHaveLength(delivered);
  }, 180_000);
});
