import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** host:port to give the client instead of the target's. */
  readonly host: string;
  /** Ends every open connection and refuses new ones: the service is unreachable. */
  down(): void;
  up(): void;
  /** Points new connections at another target (a restarted server on a new port). */
  retarget(host: string): void;
  /** Holds every answer from the target this long before passing it on, in order: a slow or distant service. */
  delayAnswers(ms: number): void;
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
  let answerDelayMs = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (isDown) {
      client.destroy();
      return;
    }
    const upstream = connect(tPort, tHost);
    open.add(client);
    open.add(upstream);
    // Delayed answers wait in one queue per connection, so they leave in the order they came.
    const queue: { at: number; chunk: Buffer }[] = [];
    let timer: NodeJS.Timeout | null = null;
    const end = () => {
      if (timer) clearTimeout(timer);
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    const release = () => {
      timer = null;
      while (queue.length && queue[0]!.at <= Date.now()) client.write(queue.shift()!.chunk);
      if (queue.length) timer = setTimeout(release, queue[0]!.at - Date.now());
    };
    upstream.on('data', (chunk: Buffer) => {
      if (answerDelayMs === 0 && !queue.length) {
        if (!client.write(chunk)) upstream.pause();
        return;
      }
      queue.push({ at: Date.now() + answerDelayMs, chunk });
      timer ??= setTimeout(release, answerDelayMs);
    });
    client.on('drain', () => upstream.resume());
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
    delayAnswers(ms) {
      answerDelayMs = ms;
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
