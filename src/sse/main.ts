/**
 * The SSE Cloud Run service (`npm run sse`): reads every catalog topic through
 * this instance's own Pub/Sub subscriptions and serves /events, /snapshot and
 * the dashboard on PORT. On SIGTERM it ends the streams (browsers resume on
 * another instance) and deletes its subscriptions within Cloud Run's 10 s.
 */
import { ConfigError, loadConfig } from '../config/index.js';
import { PubSubConsumer } from '../consumer/index.js';
import { log } from '../log/logger.js';
import { onShutdown } from '../subscriber/shutdown.js';
import { resolveSecret } from '../tote/secrets.js';
import { startSseService, type NamesSource } from './index.js';

async function namesSource(graphqlUrl: string | undefined, apiKey: string | undefined): Promise<NamesSource | undefined> {
  if (!graphqlUrl || !apiKey) {
    log.warn('TOTE_GRAPHQL_URL or TOTE_API_KEY not set: the dashboard shows ids instead of names');
    return undefined;
  }
  try {
    const [gatewayUrl, key] = await Promise.all([resolveSecret(graphqlUrl, { sensitive: false }), resolveSecret(apiKey)]);
    return gatewayUrl && key ? { gatewayUrl, apiKey: key } : undefined;
  } catch (err) {
    // Names are a convenience; the live feed must not wait on them.
    log.error('could not resolve the query API settings; the dashboard shows ids instead of names', { err });
    return undefined;
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  if (config.bus.kind !== 'pubsub') {
    throw new ConfigError([
      'BUS=pubsub (with GOOGLE_CLOUD_PROJECT, or PUBSUB_EMULATOR_HOST for the emulator) is required for the standalone SSE service; `npm start` runs the whole pipeline on the in-process bus',
    ]);
  }
  const consumer = new PubSubConsumer({ config: config.bus, sse: config.sse, log: log.child({ component: 'consumer' }) });
  await consumer.start();
  const names = await namesSource(config.tote.graphqlUrl, config.tote.apiKey);
  let sse;
  try {
    sse = await startSseService({ config: config.sse, source: consumer, names, log });
  } catch (err) {
    await consumer.close();
    throw err;
  }
  const service = sse;
  onShutdown(config.subscriber.shutdownGraceMs, log, async () => {
    // Streams first, so browsers reconnect to a live instance while the subscriptions are deleted.
    await service.close();
    await consumer.close();
  });
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    log.error(err.message);
    process.exit(2);
  }
  log.error('sse service failed to start', { err });
  process.exit(1);
});
