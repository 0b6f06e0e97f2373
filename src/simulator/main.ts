/**
 * Standalone simulator (`npm run simulator`): serves the simulated Tote
 * endpoints until SIGINT/SIGTERM. Configuration: SIM_* (src/config/simulator.ts).
 */
import { loadConfig } from '../config/index.js';
import { log, setLogLevel } from '../log/logger.js';
import { simulatorOptionsFrom } from './options.js';
import { startSimulator } from './simulator.js';

const all = loadConfig();
setLogLevel(all.log.level);
const config = all.simulator;
const sim = await startSimulator(simulatorOptionsFrom(config));

const day = sim.plan();
log.info('Tote simulator listening', {
  subscriptions: sim.wsUrl,
  http: sim.httpUrl,
  gateway: sim.gatewayUrl,
  // A local development key, printed so local tools can use it; it opens nothing else.
  apiKey: config.apiKey,
  seed: config.seed,
  speed: config.speed,
  date: day.date,
  meetings: day.meetings.map((m) => m.venue.name),
});
process.stdout.write(
  `\nTote simulator (seed ${config.seed}, ${config.speed}x)\n  subscriptions ${sim.wsUrl}\n  http          ${sim.httpUrl}\n  gateway       ${sim.gatewayUrl}\n  API key       ${config.apiKey}   (Authorization: Api-Key ${config.apiKey})\n\n`,
);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info('simulator stopping', { signal, stats: sim.stats() });
  void sim.close().then(() => process.exit(0));
};
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));
