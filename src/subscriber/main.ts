/**
 * The subscriber Cloud Run service: `node dist/src/subscriber/main.js`.
 * Listens on PORT (Cloud Run) or SUBSCRIBER_PORT; stops and flushes on SIGTERM
 * inside Cloud Run's 10 s grace.
 */
import { PubSubPublisher } from '../bus/pubsub-publisher.js';
import { MemoryBus } from '../bus/memory-bus.js';
import { loadConfig, ConfigError } from '../config/index.js';
import { createHistorySink } from '../history/index.js';
import { createOutbox } from '../outbox/outbox.js';
import { log, setLogLevel } from '../log/logger.js';
import { exitOnStartFailure } from '../process/exit.js';
import { preflight } from '../process/preflight.js';
import { startSubscriberService } from './service.js';
import { onShutdown } from '../process/shutdown.js';

async function main(): Promise<void> {
  const config = loadConfig();
  setLogLevel(config.log.level);
  if (!config.tote.subscriptionsUrl)
    throw new ConfigError(['TOTE_SUBSCRIPTIONS_URL is required for the standalone subscriber (npm start runs the simulator)']);
  await preflight(config, { bus: true, history: true });
  const publisher =
    config.bus.kind === 'pubsub'
      ? new PubSubPublisher(config.bus, log, {
          outbox: createOutbox(config.bus.outbox, config.subscriber.instanceId, config.subscriber.storageEndpoint),
        })
      : new MemoryBus(config.bus.memoryDeadLettersKept);
  if (config.bus.kind === 'memory') log.warn('BUS=memory: envelopes stay in this process (set BUS=pubsub in the cloud)');
  const history = createHistorySink(config.history);
  const service = await startSubscriberService({
    tote: config.tote,
    subscriber: config.subscriber,
    publisher,
    history,
    log,
    port: config.subscriber.servicePort,
    host: config.subscriber.host,
    portVariable: config.subscriber.servicePortVariable,
    ...(config.subscriber.controlToken ? { controlToken: config.subscriber.controlToken } : {}),
    source: 'tote',
    historyCloseMs: config.history.kind === 'none' ? 0 : config.history.closeTimeoutMs,
  });
  log.info('subscriber listening', { port: service.port, instanceId: config.subscriber.instanceId });
  onShutdown(config.subscriber.shutdownGraceMs, log, () => service.close());
}

main().catch((err) => exitOnStartFailure(err, { what: 'subscriber', log }));
