import type { EnvReader } from './env.js';

export interface SimulatorConfig {
  port: number;
  seed: number;
  /** Simulated seconds per real second. */
  speed: number;
}

export function readSimulatorConfig(r: EnvReader): SimulatorConfig {
  return {
    // 0 = any free port; the all-in-one passes the chosen URL to the subscriber.
    port: r.int('SIM_PORT', 0, 0, 65535),
    // Same seed, same racing day.
    seed: r.int('SIM_SEED', 20261121, 0),
    // A whole racing day in about an hour of wall time by default.
    speed: r.num('SIM_SPEED', 60, 0.01, 10_000),
  };
}
