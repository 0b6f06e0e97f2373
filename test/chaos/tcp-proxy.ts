import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** host:port to give the client instead of the target's. */
  readonly host: string;
  /** Ends every open connection and refuses new ones: the service is unreachable. */
  down(): void;
  up(): void;
  /** Points new connections at another target (a restarted server on a new port). */
  retarget(host: string): void;
  close(): Promise<void>;
}

/**
 * A TCP relay on a free loopback port, to make a real server unreachable on
 * demand without touching it: the client sees reset connections and refused
 * connects, as in a network or service outage.
 */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  let [tHost, tPort] = split(target);
  let isDown = false;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (isDown) {
      client.destroy();
      return;
    }
    const upstream = connect(tPort, tHost);
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const down = () => {
    isDown = true;
    for (const s of [...open]) s.destroy();
    open.clear();
  };
  return {
    host: `127.0.0.1:${port}`,
    down,
    up() {
      isDown = false;
    },
    retarget(host) {
      [tHost, tPort] = split(host);
    },
    async close() {
      down();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function split(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i), Number(hostPort.slice(i + 1))];
}
