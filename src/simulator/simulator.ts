/**
 * The Tote simulator: a local stand-in for Tote's subscription endpoint and
 * query gateway, playing a deterministic UK racing day.
 *
 *   ws://HOST:PORT/partner/connections/graphql/    subscriptions, subprotocol
 *       graphql-ws (legacy, Tote's documented one) or graphql-transport-ws
 *   http://HOST:PORT/partner/connections/graphql/  POST queries, introspection
 *   http://HOST:PORT/partner/gateway/graphql       POST gateway queries (the day card)
 *
 * Protocol choice: the first subprotocol in the client's offer that the
 * simulator speaks (RFC 6455 lets the server choose; following the client's
 * order lets a client's preference be tested both ways). No acceptable
 * subprotocol: HTTP 400 before the upgrade.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ValidationRule } from 'graphql';
import { graphql } from './graphql-runtime.js';
import { WebSocketServer, type WebSocket } from 'ws';
import { CATALOG, entryForRootField } from '../catalog/catalog.js';
import { createLogger } from '../log/logger.js';
import { KeyCheck } from './auth.js';
import type { DayPlan } from './day-plan.js';
import { DayPlayer } from './day-player.js';
import { FieldHub } from './field-hub.js';
import { buildGatewaySchema } from './gateway-schema.js';
import { GatewayState } from './gateway-state.js';
import { GATEWAY_PATH, SUBSCRIPTIONS_PATH, handleHttp } from './http-endpoints.js';
import { LastSent } from './last-sent.js';
import { LegacyConnection, type ProtocolDeps } from './legacy-protocol.js';
import { isIsoDate, londonDate, londonTime, parseHHMM } from './london-time.js';
import { poolTotal } from './payloads.js';
import { faultRule, noProtocolFaults } from './protocol-faults.js';
import { SimClock } from './sim-clock.js';
import { SimSocket, type SocketCounters, type WireProtocol } from './sim-socket.js';
import { buildSubscriptionSchema } from './subscription-schema.js';
import { TransportServer } from './transport-protocol.js';

const { NoSchemaIntrospectionCustomRule, specifiedRules } = graphql;

export type { WireProtocol } from './sim-socket.js';
export { GATEWAY_PATH, SUBSCRIPTIONS_PATH } from './http-endpoints.js';

export interface SimulatorOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 (any free port) */
  port?: number;
  /** Keys accepted as `Api-Key <key>` or `Bearer <key>`. */
  apiKeys: string[];
  /** Same seed, same days. @default 20261121 */
  seed?: number;
  /** Simulated seconds per real second. @default 60 */
  speed?: number;
  /** Multiplies the frequency of pool totals and lines. @default 1 */
  rate?: number;
  /** Legacy `ka` interval, and transport-ws ping interval. @default 5000 (HotChocolate's) */
  kaIntervalMs?: number;
  /** Time allowed between the socket opening and connection_init. @default 10000 (HotChocolate's) */
  initTimeoutMs?: number;
  /** Subprotocols spoken. @default both */
  protocols?: WireProtocol[];
  /** When false, introspection queries fail validation and ?sdl is refused. @default true */
  introspection?: boolean;
  /** Play the day from the start; false = only emit(), faults and play() produce messages. @default true */
  autoplay?: boolean;
  /** London time ("HH:MM") at which the simulated clock starts; default a minute before the first market opens. */
  startAt?: string;
  /** Date (YYYY-MM-DD) of the first simulated day. @default today in London */
  date?: string;
}

export interface SimulatorStats {
  /** Messages published per root field (autoplay, emit and burst). */
  sent: Record<string, number>;
  /** Deliveries (message x subscribed operation) per root field. */
  delivered: Record<string, number>;
  connections: number;
  connectionsByProtocol: Record<WireProtocol, number>;
  operations: number;
  /**
   * Data frames actually handed to a socket. A delivery waits in its
   * operation's queue until the protocol writes it, and an operation stopped
   * meanwhile drops what it had queued, as a GraphQL server does.
   */
  written: number;
  /** Frames not sent because the socket was silenced. */
  silencedDrops: number;
  slowConsumerDisconnects: number;
  /** Simulated now, ISO. */
  simTime: string;
  day: { index: number; date: string };
}

export interface SimulatorFaults {
  /** Ends every socket abruptly: no close frame (the client sees 1006). */
  disconnectAll(): void;
  /** Sockets open now send nothing (no data, no ka, no ping) for `ms`; they stay open. */
  silence(ms: number): void;
  /** Sends `text` as one frame to every open socket (optionally one protocol's), bypassing silence. */
  sendRaw(text: string, protocol?: WireProtocol): void;
  /**
   * While set, `rootField`'s new operations are refused with `message` (graphql-ws: an error frame;
   * graphql-transport-ws: next with errors, then complete, as graphql-ws sends it) and each message of
   * running ones arrives as {data: null, errors}; null clears.
   */
  failField(rootField: string, message: string | null): void;
  /** Publishes `n` PoolTotalChanged messages at once; returns deliveries. */
  burst(n: number): number;
  /** Completes every operation on `rootField` from the server side; returns how many. */
  complete(rootField: string): number;
  /**
   * Tote's state moves on while no socket is open: ends every socket (as
   * disconnectAll), refuses new ones (HTTP 503 on the upgrade) until they
   * are all gone, then announces `changes` to nobody (the query gateway
   * serves them) and accepts sockets again. With `holdMs` the gap stays
   * open that long after the changes, while a playing day goes on announcing
   * to nobody. Resolves with the deliveries made, which is 0 unless a socket
   * outlived the wait. src/simulator/gap-changes.ts builds a realistic set of changes.
   */
  changeWhileDisconnected(
    changes: readonly { rootField: string; payload: Record<string, unknown> }[],
    opts?: { holdMs?: number },
  ): Promise<number>;
  /** Sends `bytes` as one text frame to every open socket, valid UTF-8 or not. */
  sendBytes(bytes: Buffer): void;
  /** Refuses documents deeper than `depth` (the root field is 1), as HotChocolate's depth limit does; null clears. */
  limitDepth(depth: number | null): void;
  /** Refuses documents selecting `field` (a field the schema advertises but validation refuses); null clears all. */
  refuseField(field: string | null): void;
  /** Legacy protocol: refusals arrive as `data` with errors and no data, then `complete` (HotChocolate's form). */
  refusalsAsData(on: boolean): void;
  /** Legacy protocol: connection_init is answered with a connection_error carrying `payload`; null clears. */
  initError(payload: Record<string, unknown> | null): void;
}

export interface Simulator {
  wsUrl: string;
  httpUrl: string;
  gatewayUrl: string;
  connections(): number;
  /** Pushes one message for a root field to every operation subscribed to it; returns deliveries. */
  emit(rootField: string, payload: Record<string, unknown>): number;
  stats(): SimulatorStats;
  /** Last payload sent for (rootField, primary key value); bounded, see last-sent.ts. */
  lastSent(rootField: string, keyValue: string): Record<string, unknown> | undefined;
  faults: SimulatorFaults;
  /** Starts (or resumes) playing the day. */
  play(): void;
  /** Stops the clock and the messages; play() resumes where it stopped. */
  pause(): void;
  /** The current simulated day's card. */
  plan(): DayPlan;
  /** Simulated now (epoch ms). */
  simNow(): number;
  close(): Promise<void>;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  seed: 20261121,
  speed: 60,
  rate: 1,
  kaIntervalMs: 5_000,
  initTimeoutMs: 10_000,
  protocols: ['graphql-ws', 'graphql-transport-ws'] as WireProtocol[],
  introspection: true,
  autoplay: true,
};

/** HotChocolate's maximum inbound message; larger frames close the socket with 1009. */
const MAX_INBOUND_BYTES = 20_480_000;

const log = createLogger({ component: 'simulator' });

export class SimulatorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatorError';
  }
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS &
    SimulatorOptions;
  if (!o.apiKeys?.length) throw new SimulatorError('apiKeys must list at least one key');
  for (const name of ['speed', 'rate', 'kaIntervalMs', 'initTimeoutMs'] as const) {
    if (!(Number.isFinite(o[name]) && o[name] > 0)) throw new SimulatorError(`${name} must be a positive number, got ${o[name]}`);
  }
  if (o.date !== undefined && !isIsoDate(o.date)) throw new SimulatorError(`date must be YYYY-MM-DD, got "${o.date}"`);
  const startMinutes = o.startAt === undefined ? undefined : parseHHMM(o.startAt);
  if (o.startAt !== undefined && startMinutes === undefined) throw new SimulatorError(`startAt must be HH:MM, got "${o.startAt}"`);

  const keys = new KeyCheck(o.apiKeys);
  const hub = new FieldHub();
  const failing = new Map<string, string>();
  const lastSent = new LastSent();
  const announced = new GatewayState();
  let refusing = false;
  const sent: Record<string, number> = {};
  const delivered: Record<string, number> = {};
  for (const e of CATALOG) sent[e.rootField] = delivered[e.rootField] = 0;
  const counters: SocketCounters = { silencedDrops: 0, dataFramesWritten: 0, slowConsumerDisconnects: 0 };
  const sockets = new Set<SimSocket>();

  const publish = (rootField: string, payload: Record<string, unknown>): number => {
    sent[rootField]! += 1;
    lastSent.record(rootField, payload);
    announced.record(rootField, payload);
    const n = hub.publish(rootField, payload);
    delivered[rootField]! += n;
    return n;
  };

  const clock = new SimClock(o.speed, 0, false);
  const player = new DayPlayer({
    seed: o.seed,
    date: o.date ?? londonDate(Date.now()),
    rate: o.rate,
    clock,
    publish: (m) => publish(m.rootField, m.payload),
    startAt: (plan) => (startMinutes === undefined ? undefined : londonTime(plan.date, startMinutes)),
  });

  const protocolFaults = noProtocolFaults();
  const rules: readonly ValidationRule[] = [
    ...specifiedRules,
    ...(o.introspection ? [] : [NoSchemaIntrospectionCustomRule]),
    faultRule(protocolFaults),
  ];
  const subscriptions = buildSubscriptionSchema(hub, failing);
  const gateway = buildGatewaySchema({
    planFor: (d) => player.planFor(d),
    simNow: () => clock.now(),
    project: (ms) => clock.project(ms),
    state: announced,
  });
  const deps: ProtocolDeps = {
    schema: subscriptions,
    rules,
    keys,
    kaIntervalMs: o.kaIntervalMs,
    initTimeoutMs: o.initTimeoutMs,
    faults: protocolFaults,
  };
  const transport = new TransportServer(deps);

  const wssFor = (protocol: WireProtocol) =>
    new WebSocketServer({
      noServer: true,
      maxPayload: MAX_INBOUND_BYTES,
      handleProtocols: (offered) => (offered.has(protocol) ? protocol : false),
    });
  const wss: Record<WireProtocol, WebSocketServer> = {
    'graphql-ws': wssFor('graphql-ws'),
    'graphql-transport-ws': wssFor('graphql-transport-ws'),
  };

  const onSocket = (ws: WebSocket, request: IncomingMessage, protocol: WireProtocol) => {
    const sock = new SimSocket(ws, protocol, counters);
    sockets.add(sock);
    ws.once('close', () => sockets.delete(sock));
    // A socket error (e.g. a frame over the limit) is followed by close; nothing to do but not crash.
    ws.on('error', (err) => log.debug('socket error', { protocol, error: err.message }));
    if (protocol === 'graphql-ws') new LegacyConnection(sock, request, deps);
    else transport.accept(sock, request);
  };

  const server: Server = createServer((req, res) => {
    void handleHttp(req, res, { subscriptions, gateway, rules, keys, introspection: o.introspection });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
    if (path !== SUBSCRIPTIONS_PATH) return rejectUpgrade(socket, 404, 'Not Found');
    if (refusing) return rejectUpgrade(socket, 503, 'Service Unavailable');
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const protocol = offered.find((p): p is WireProtocol => (o.protocols as string[]).includes(p));
    if (!protocol) return rejectUpgrade(socket, 400, 'Bad Request');
    wss[protocol].handleUpgrade(req, socket, head, (ws) => onSocket(ws, req, protocol));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  const hostPart = o.host.includes(':') ? `[${o.host}]` : o.host;
  if (o.autoplay) player.play();

  const knownField = (rootField: string) => {
    if (!entryForRootField(rootField)) throw new SimulatorError(`unknown root field "${rootField}"`);
  };
  let burstGross = 0;
  let closed = false;

  return {
    wsUrl: `ws://${hostPart}:${port}${SUBSCRIPTIONS_PATH}`,
    httpUrl: `http://${hostPart}:${port}${SUBSCRIPTIONS_PATH}`,
    gatewayUrl: `http://${hostPart}:${port}${GATEWAY_PATH}`,
    connections: () => sockets.size,
    emit(rootField, payload) {
      knownField(rootField);
      return publish(rootField, payload);
    },
    stats() {
      const byProtocol: Record<WireProtocol, number> = { 'graphql-ws': 0, 'graphql-transport-ws': 0 };
      for (const s of sockets) byProtocol[s.protocol]++;
      const plan = player.current;
      return {
        sent: { ...sent },
        delivered: { ...delivered },
        connections: sockets.size,
        connectionsByProtocol: byProtocol,
        operations: hub.operations(),
        written: counters.dataFramesWritten,
        silencedDrops: counters.silencedDrops,
        slowConsumerDisconnects: counters.slowConsumerDisconnects,
        simTime: new Date(clock.now()).toISOString(),
        day: { index: plan.dayIndex, date: plan.date },
      };
    },
    lastSent: (rootField, keyValue) => lastSent.get(rootField, keyValue),
    faults: {
      disconnectAll() {
        for (const s of [...sockets]) s.ws.terminate();
      },
      silence(ms) {
        for (const s of sockets) s.silence(ms);
      },
      sendRaw(text, protocol) {
        for (const s of sockets) if (s.open && (!protocol || s.protocol === protocol)) s.ws.send(text);
      },
      failField(rootField, message) {
        knownField(rootField);
        if (message === null) failing.delete(rootField);
        else failing.set(rootField, message);
      },
      burst(n) {
        const products = player.current.products;
        let deliveries = 0;
        for (let i = 0; i < n; i++) {
          burstGross += 1;
          deliveries += publish('onPoolTotalChanged', poolTotal(products[i % products.length]!, burstGross, false));
        }
        return deliveries;
      },
      complete(rootField) {
        knownField(rootField);
        return hub.complete(rootField);
      },
      async changeWhileDisconnected(changes, opts = {}) {
        for (const c of changes) knownField(c.rootField);
        refusing = true;
        try {
          for (const s of [...sockets]) s.ws.terminate();
          // A terminated socket leaves the set on its close event; operations go with it.
          const deadline = Date.now() + 5_000;
          while ((sockets.size > 0 || hub.operations() > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
          let deliveries = 0;
          for (const c of changes) deliveries += publish(c.rootField, c.payload);
          if (opts.holdMs) await new Promise((r) => setTimeout(r, opts.holdMs));
          return deliveries;
        } finally {
          refusing = false;
        }
      },
      sendBytes(bytes) {
        for (const s of sockets) if (s.open) s.ws.send(bytes, { binary: false });
      },
      limitDepth(depth) {
        protocolFaults.maxDepth = depth;
      },
      refuseField(field) {
        if (field === null) protocolFaults.refusedFields.clear();
        else protocolFaults.refusedFields.add(field);
      },
      refusalsAsData(on) {
        protocolFaults.refusalsAsData = on;
      },
      initError(payload) {
        protocolFaults.initError = payload;
      },
    },
    play: () => player.play(),
    pause: () => player.pause(),
    plan: () => player.current,
    simNow: () => clock.now(),
    async close() {
      if (closed) return;
      closed = true;
      player.pause();
      for (const s of [...sockets]) s.ws.terminate();
      for (const w of Object.values(wss)) w.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
