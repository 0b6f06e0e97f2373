/**
 * `npm start`: the whole pipeline in one process on embedded defaults.
 *
 *   Tote simulator -> subscriber -> in-process bus -> SSE service + dashboard
 *                                \-> DuckDB history
 *
 * Each real part is switched on by configuration, not by a different code
 * path: TOTE_SUBSCRIPTIONS_URL + TOTE_API_KEY connect to Tote instead of the
 * simulator, BUS=pubsub uses Pub/Sub (or its emulator via PUBSUB_EMULATOR_HOST),
 * HISTORY=bigquery streams into BigQuery.
 */
import { pathToFileURL } from 'node:url';
import { MemoryBus } from './bus/memory-bus.js';
import { PubSubPublisher } from './bus/pubsub-publisher.js';
import type { EnvelopePublisher, EnvelopeSource } from './bus/types.js';
import { loadConfig, type Config } from './config/index.js';
import type { Env } from './config/env.js';
import { PubSubConsumer } from './consumer/index.js';
import { createHistorySink } from './history/index.js';
import { createOutbox } from './outbox/outbox.js';
import { createLogger, log as rootLog, setLogLevel, type Logger } from './log/logger.js';
import { simulatorOptionsFrom, startSimulator, type Simulator } from './simulator/index.js';
import { startSseService } from './sse/index.js';
import { startSubscriberService, type SubscriberService } from './subscriber/index.js';
import { exitOnStartFailure } from './process/exit.js';
import { preflight } from './process/preflight.js';
import { onShutdown } from './process/shutdown.js';

/** Kept back from the subscriber's close for the parts closed after it (the simulator, and the consumer's own budget). */
const LATER_CLOSERS_MS = 500;

export interface LocalPipeline {
  readonly config: Config;
  readonly sseUrl: string;
  readonly subscriberUrl: string;
  readonly simulator: Simulator | null;
  readonly subscriber: SubscriberService;
  readonly bus: MemoryBus | null;
  close(): Promise<void>;
}

export interface LocalPipelineOptions {
  /** Environment to read instead of process.env (tests). */
  env?: Env;
  log?: Logger;
  /** Bind address for both services; default LOCAL_HOST (loopback). */
  host?: string;
}

export async function startLocalPipeline(opts: LocalPipelineOptions = {}): Promise<LocalPipeline> {
  const config = loadConfig(opts.env ?? process.env);
  if (!opts.log) setLogLevel(config.log.level);
  const log = opts.log ?? rootLog;
  const host = opts.host ?? config.local.host;
  /** Each closer gets the shutdown's deadline (epoch ms). */
  const closers: ((deadline: number) => Promise<void>)[] = [];
  const closeAll = async () => {
    const deadline = Date.now() + config.subscriber.shutdownGraceMs;
    for (const c of [...closers].reverse()) await c(deadline).catch((err: Error) => log.error('close failed', { error: err.message }));
  };

  try {
    await preflight(config, { bus: true, history: true });
    let simulator: Simulator | null = null;
    let url: string | undefined;
    let apiKey: string | undefined;
    let gatewayUrl = config.tote.graphqlUrl;
    if (!config.tote.subscriptionsUrl) {
      simulator = await startSimulator(simulatorOptionsFrom(config.simulator));
      closers.push(() => simulator!.close());
      url = simulator.wsUrl;
      apiKey = config.simulator.apiKey;
      gatewayUrl = simulator.gatewayUrl;
    }

    let bus: MemoryBus | null = null;
    let publisher: EnvelopePublisher;
    let source: EnvelopeSource;
    if (config.bus.kind === 'pubsub') {
      publisher = new PubSubPublisher(config.bus, log.child({ component: 'publisher' }), {
        outbox: createOutbox(config.bus.outbox, config.subscriber.instanceId, config.subscriber.storageEndpoint),
      });
      const consumer = new PubSubConsumer({ config: config.bus, sse: config.sse, log: log.child({ component: 'consumer' }) });
      source = consumer;
      closers.push(() => consumer.close());
      await consumer.start();
    } else {
      bus = new MemoryBus(config.bus.memoryDeadLettersKept);
      publisher = bus;
      source = bus;
    }

    const history = createHistorySink(config.history);
    const subscriber = await startSubscriberService({
      tote: config.tote,
      subscriber: { ...config.subscriber, autoStart: false },
      publisher,
      history,
      log: log.child({ component: 'subscriber' }),
      port: config.subscriber.port,
      host,
      portVariable: 'SUBSCRIBER_PORT',
      ...(config.subscriber.controlToken ? { controlToken: config.subscriber.controlToken } : {}),
      ...(url ? { url } : {}),
      ...(apiKey ? { apiKey } : {}),
      ...(gatewayUrl ? { graphqlUrl: gatewayUrl } : {}),
      source: simulator ? 'simulator' : 'tote',
      historyCloseMs: config.history.kind === 'none' ? 0 : config.history.closeTimeoutMs,
    });
    // The consumer and the simulator close after the subscriber: their time is kept back from its history.
    const afterSubscriberMs = LATER_CLOSERS_MS + (config.bus.kind === 'pubsub' ? config.sse.consumer.deleteTimeoutMs : 0);
    closers.push((deadline) => subscriber.close(deadline - afterSubscriberMs));

    const sse = await startSseService({
      config: config.sse,
      source,
      log: log.child({ component: 'sse' }),
      host,
    });
    closers.push(() => sse.close());

    // Locally the feed runs whatever the time of day: the window is for the cloud.
    subscriber.start();

    return {
      config,
      sseUrl: sse.url,
      subscriberUrl: subscriber.url,
      simulator,
      subscriber,
      bus,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function main(): Promise<void> {
  let pipeline: LocalPipeline;
  try {
    pipeline = await startLocalPipeline();
  } catch (err) {
    exitOnStartFailure(err, { what: 'the pipeline', log: rootLog, plain: true });
  }
  const { config, simulator } = pipeline;
  const banner = createLogger({ component: 'main' });
  banner.info('pipeline running', {
    dashboard: pipeline.sseUrl,
    subscriberControl: pipeline.subscriberUrl,
    feed: simulator ? `simulator (seed ${config.simulator.seed}, ${config.simulator.speed}x)` : 'Tote',
    bus: config.bus.kind,
    history: config.history.kind === 'duckdb' ? `duckdb ${config.history.duckdbPath}` : config.history.kind,
  });
  const lines = [
    '',
    `  Dashboard and SSE stream:  ${pipeline.sseUrl}/   (events: ${pipeline.sseUrl}/events)`,
    `  Subscriber control API:    ${pipeline.subscriberUrl}/status`,
    `  Feed: ${simulator ? `Tote simulator at ${simulator.wsUrl}` : 'Tote'}; bus: ${config.bus.kind}; history: ${config.history.kind === 'duckdb' ? config.history.duckdbPath : config.history.kind}`,
    config.history.kind === 'duckdb'
      ? '  Query history:             npm run sql -- "select message_type, count(*) from tote_messages group by 1"'
      : '',
    '  Stop with Ctrl+C.',
    '',
  ];
  process.stderr.write(lines.filter((l) => l !== null).join('\n') + '\n');
  onShutdown(config.subscriber.shutdownGraceMs, banner, () => pipeline.close());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => exitOnStartFailure(err, { what: 'the pipeline', log: rootLog, plain: true }));
}
