import { MemoryBus } from '../../src/bus/memory-bus.js';
import type { EnvelopePublisher } from '../../src/bus/types.js';
import { loadConfig } from '../../src/config/index.js';
import type { Envelope } from '../../src/envelope/envelope.js';
import { createHistorySink } from '../../src/history/index.js';
import type { HistorySink } from '../../src/history/types.js';
import { createLogger, setLogWriter } from '../../src/log/logger.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { startSubscriberService, type SubscriberService, type SubscriberServiceOptions } from '../../src/subscriber/service.js';

export const TEST_KEY = 'test-key-7f3c9a1e5d';

export interface Harness {
  sim: Simulator;
  service: SubscriberService;
  bus: MemoryBus;
  envelopes: Envelope[];
  logs: string[];
  close(): Promise<void>;
}

/**
 * A simulator and a subscriber service wired to it on loopback, with quick
 * reconnect settings so fault scenarios take a second, not a minute. Log lines are captured so tests can check what operators would see.
 */
export async function startHarness(
  opts: {
    sim?: Partial<SimulatorOptions>;
    /** A simulator already running (several instances on one feed); the harness does not close it. */
    simulator?: Simulator;
    env?: Record<string, string>;
    publisher?: EnvelopePublisher;
    history?: HistorySink;
    apiKey?: string;
    maxInFlight?: number;
    /** The query gateway for the day-card relay: 'sim' for the simulator's, or a URL. */
    graphqlUrl?: string;
    /** Service options a test drives: the stats period, the clock, the window check, secret resolution. */
    service?: Partial<Pick<SubscriberServiceOptions, 'statsIntervalMs' | 'now' | 'windowCheckMs' | 'resolveSecret' | 'controlToken'>>;
  } = {},
): Promise<Harness> {
  const logs: string[] = [];
  setLogWriter((l) => logs.push(l));
  const sim = opts.simulator ?? (await startSimulator({ apiKeys: [TEST_KEY], autoplay: false, kaIntervalMs: 200, ...opts.sim }));
  const config = loadConfig({
    TOTE_SUBSCRIPTIONS_URL: sim.wsUrl,
    TOTE_API_KEY: opts.apiKey ?? TEST_KEY,
    // Long enough that a loaded 2-core machine (event loop late by seconds) does not replace a healthy
    // socket mid-test; a test of liveness itself sets its own short timeout.
    TOTE_LIVENESS_TIMEOUT_MS: '10000',
    TOTE_RECONNECT_MIN_MS: '50',
    TOTE_RECONNECT_MAX_MS: '400',
    TOTE_AUTH_RETRY_MS: '60000',
    TOTE_OPERATION_RETRY_MIN_MS: '100',
    TOTE_OPERATION_RETRY_MAX_MS: '400',
    TOTE_CONNECT_TIMEOUT_MS: '3000',
    HISTORY: 'none',
    SUBSCRIBER_AUTO_START: 'false',
    ...opts.env,
  });
  const bus = new MemoryBus();
  const envelopes: Envelope[] = [];
  bus.subscribe((e) => envelopes.push(e));
  const service = await startSubscriberService({
    tote: config.tote,
    subscriber: config.subscriber,
    publisher: opts.publisher ?? bus,
    history: opts.history ?? createHistorySink(config.history),
    log: createLogger({ component: 'test-subscriber' }),
    port: 0,
    host: '127.0.0.1',
    source: 'simulator',
    ...(opts.maxInFlight ? { maxInFlight: opts.maxInFlight } : {}),
    ...(opts.graphqlUrl ? { graphqlUrl: opts.graphqlUrl === 'sim' ? sim.gatewayUrl : opts.graphqlUrl } : {}),
    ...opts.service,
  });
  return {
    sim,
    service,
    bus,
    envelopes,
    logs,
    async close() {
      await service.close();
      if (!opts.simulator) await sim.close();
      setLogWriter((l) => process.stdout.write(l + '\n'));
    },
  };
}

/** A minimal valid payload for a catalog entry: its keys plus a marker. */
export function payloadFor(keys: readonly { name: string }[], marker: string): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  for (const k of keys) p[k.name] = `${k.name}-${marker}`;
  return p;
}
