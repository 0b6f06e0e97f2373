import { ConfigError, EnvReader, type Env } from './env.js';
import { readBusConfig, type BusConfig } from './bus.js';
import { readHistoryConfig, type HistoryConfig } from './history.js';
import { readLocalConfig, type LocalConfig } from './local.js';
import { readLogConfig, type LogConfig } from './log.js';
import { readSimulatorConfig, type SimulatorConfig } from './simulator.js';
import { readSseConfig, type SseConfig } from './sse.js';
import { readSubscriberConfig, type SubscriberConfig } from './subscriber.js';
import { readToteConfig, type ToteConfig } from './tote.js';

export interface Config {
  tote: ToteConfig;
  bus: BusConfig;
  history: HistoryConfig;
  subscriber: SubscriberConfig;
  sse: SseConfig;
  simulator: SimulatorConfig;
  local: LocalConfig;
  log: LogConfig;
}

/** Reads the environment once; throws a ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const r = new EnvReader(env);
  const config: Config = {
    tote: readToteConfig(r),
    bus: readBusConfig(r),
    history: readHistoryConfig(r),
    subscriber: readSubscriberConfig(r),
    sse: readSseConfig(r),
    simulator: readSimulatorConfig(r),
    local: readLocalConfig(r),
    log: readLogConfig(r),
  };
  if (r.problems.length) throw new ConfigError(r.problems);
  return config;
}

export { ConfigError } from './env.js';
export type { ToteConfig, BusConfig, HistoryConfig, SubscriberConfig, SseConfig, SimulatorConfig, LocalConfig, LogConfig };
