import type { EnvReader } from './env.js';

export type SimulatorProtocol = 'graphql-ws' | 'graphql-transport-ws';

export interface SimulatorConfig {
  port: number;
  seed: number;
  /** Simulated seconds per real second. */
  speed: number;
  host: string;
  /** The key the standalone simulator accepts; a local development key, not a secret. */
  apiKey: string;
  /** Multiplies the frequency of pool totals and lines. */
  rate: number;
  kaIntervalMs: number;
  initTimeoutMs: number;
  protocols: SimulatorProtocol[];
  introspection: boolean;
  /** London "HH:MM" at which the simulated day starts; undefined = just before the first market opens. */
  startAt: string | undefined;
}

const PROTOCOLS: readonly SimulatorProtocol[] = ['graphql-ws', 'graphql-transport-ws'];

export function readSimulatorConfig(r: EnvReader): SimulatorConfig {
  const protocols = r.list('SIM_PROTOCOLS', PROTOCOLS);
  const bad = protocols.filter((p) => !(PROTOCOLS as readonly string[]).includes(p));
  if (bad.length || protocols.length === 0)
    r.fail(`SIM_PROTOCOLS must list graphql-ws and/or graphql-transport-ws, got "${protocols.join(',')}"`);
  const startAt = r.optionalStr('SIM_START_AT');
  if (startAt !== undefined && !/^([01]?\d|2[0-3]):[0-5]\d$/.test(startAt)) r.fail(`SIM_START_AT must be HH:MM, got "${startAt}"`);
  return {
    // 0 = any free port; the all-in-one passes the chosen URL to the subscriber.
    port: r.int('SIM_PORT', 0, 0, 65535),
    // Same seed, same racing day.
    seed: r.int('SIM_SEED', 20261121, 0),
    // A whole racing day in about an hour of wall time by default.
    speed: r.num('SIM_SPEED', 60, 0.01, 10_000),
    // Loopback only unless asked: the simulator has no business on a network.
    host: r.str('SIM_HOST', '127.0.0.1'),
    // Fixed so local tools can be pointed at it without copying a generated value.
    apiKey: r.str('SIM_API_KEY', 'local-dev-key'),
    // 1 = plausible live volume; raise it for load tests.
    rate: r.num('SIM_RATE', 1, 0.01, 1_000),
    // HotChocolate's keep-alive interval.
    kaIntervalMs: r.int('SIM_KA_INTERVAL_MS', 5_000, 10, 600_000),
    // HotChocolate waits 10 s for connection_init.
    initTimeoutMs: r.int('SIM_INIT_TIMEOUT_MS', 10_000, 10, 600_000),
    // Both, as HotChocolate serves both; restrict one to test a client's fallback.
    protocols: bad.length || protocols.length === 0 ? [...PROTOCOLS] : (protocols as SimulatorProtocol[]),
    // Tote's endpoint answers introspection; turn off to test clients' bundled fallback.
    introspection: r.bool('SIM_INTROSPECTION', true),
    startAt,
  };
}
