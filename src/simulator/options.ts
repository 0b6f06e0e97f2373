import type { SimulatorConfig } from '../config/simulator.js';
import type { SimulatorOptions } from './simulator.js';

/** Simulator options from its configuration section (standalone runner and the all-in-one). */
export function simulatorOptionsFrom(config: SimulatorConfig): SimulatorOptions {
  return {
    host: config.host,
    port: config.port,
    apiKeys: [config.apiKey],
    seed: config.seed,
    speed: config.speed,
    rate: config.rate,
    kaIntervalMs: config.kaIntervalMs,
    initTimeoutMs: config.initTimeoutMs,
    protocols: config.protocols,
    introspection: config.introspection,
    startAt: config.startAt,
  };
}
