/**
 * The SSE Cloud Run service (`npm run sse`): reads every catalog topic through
 * this instance's own Pub/Sub subscriptions and serves /events, /snapshot and
 * the dashboard on PORT. On SIGTERM it ends the streams (browsers resume on
 * another instance) and deletes its subscriptions within Cloud Run's 10 s.
 */
import { ConfigError, loadConfig } from '../config/index.js';
import { PubSubConsumer } from '../consumer/index.js';
import { log, setLogLevel } from '../log/logger.js';
import { exitOnStartFailure } from '../process/exit.js';
import { preflight } from '../process/preflight.js';
import { onShutdown } from '../process/shutdown.js';
import { startSseService, type SseService } from './index.js';

async function main(): Promise<void> {
  const config = loadConfig();
  setLogLevel(config.log.level);
  if (config.bus.kind !== 'pubsub') {
    throw new ConfigError([
      'BUS=pubsub (with GOOGLE_CLOUD_PROJECT, or PUBSUB_EMULATOR_HOST for the emulator) is required for the standalone SSE service; `npm start` runs the whole pipeline on the in-process bus',
    ]);
  }
  await preflight(config, { bus: true, history: false });
  const consumer = new PubSubConsumer({ config: config.bus, sse: config.sse, log: log.child({ component: 'consumer' }) });
  let service: SseService | undefined;
  // Installed before the subscriptions are created: a SIGTERM during start still deletes what exists.
  // One deadline for the whole path, inside the grace that onShutdown enforces.
  onShutdown(config.subscriber.shutdownGraceMs, log, async () => {
    const deadline = Date.now() + Math.max(500, config.subscriber.shutdownGraceMs - 1_000);
    // Streams first, so browsers reconnect to a live instance while the subscriptions are deleted.
    await service?.close();
    await consumer.close(deadline);
  });
  await consumer.start();
  try {
    // Names come from the day cards the subscriber publishes: this public service holds no query-API key.
    service = await startSseService({ config: config.sse, source: consumer, log });
  } catch (err) {
    await consumer.close();
    throw err;
  }
}

main().catch((err) => exitOnStartFailure(err, { what: 'sse service', log }));
