/**
 * Load generator for the ingest benchmark, run in its own process so the
 * sender does not share the event loop it measures. Speaks just enough of
 * the legacy graphql-ws protocol: acks the init, notes the operation ids,
 * and once every operation has started sends FRAMES PoolTotalChanged data
 * frames: pre-serialised and as fast as the socket drains (RATE 0), or at
 * RATE per second, each stamped with `sentAt` (epoch ms) in its payload so
 * the end-to-end latency can be read where the event arrives.
 *
 *   node --import tsx bench/frame-sender.ts <frames> [rate]
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { frameText } from '../src/simulator/sim-socket.js';

const FRAMES = Number(process.argv[2] ?? 50_000);
const RATE = Number(process.argv[3] ?? 0);
const OPERATIONS = 15;

function poolTotal(i: number) {
  const money = (v: number) => ({ decimalAmount: v, currency: { code: 'GBP' } });
  return {
    productId: `9b1c0d1e-0000-4000-8000-${String(i % 200).padStart(12, '0')}`,
    isFinalized: false,
    total: { grossAmounts: [money(6645.4 + i)], netAmounts: [money(4917.6 + i)] },
    carryIn: { grossAmounts: [money(0)], netAmounts: [money(0)] },
    funds: [{ poolFundType: 'WIN', percentage: 100, total: { grossAmounts: [money(6645.4)], netAmounts: [money(4917.6)] } }],
  };
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('graphql-ws') ? 'graphql-ws' : false) });
wss.on('listening', () => {
  const addr = wss.address();
  process.stdout.write(JSON.stringify({ port: addr && typeof addr === 'object' ? addr.port : 0 }) + '\n');
});
wss.on('connection', (ws) => {
  const ids = new Map<string, string>();
  ws.on('message', (raw) => {
    const msg = JSON.parse(frameText(raw));
    if (msg.type === 'connection_init') ws.send('{"type":"connection_ack"}');
    if (msg.type !== 'start') return;
    const root = /\{\s*(\w+)/.exec(String(msg.payload?.query).replace(/^subscription\s*\w*\s*/, ''))?.[1] ?? '';
    ids.set(root, msg.id);
    if (ids.size < OPERATIONS) return;
    const id = ids.get('onPoolTotalChanged')!;
    if (RATE > 0) {
      paced(ws, id);
      return;
    }
    const frames = Array.from({ length: 256 }, (_, i) =>
      JSON.stringify({ id, type: 'data', payload: { data: { onPoolTotalChanged: poolTotal(i) } } }),
    );
    let sent = 0;
    const pump = () => {
      while (sent < FRAMES) {
        ws.send(frames[sent % frames.length]!);
        sent++;
        if (ws.bufferedAmount > 4 * 1024 * 1024) {
          setImmediate(pump);
          return;
        }
      }
    };
    pump();
  });
});

/** RATE frames per second on a 10 ms tick, catching up at once when a tick is late. */
function paced(ws: WebSocket, id: string): void {
  const start = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.min(FRAMES, Math.floor(((Date.now() - start) / 1000) * RATE));
    while (sent < due) {
      const payload = { ...poolTotal(sent), sentAt: Date.now() };
      ws.send(JSON.stringify({ id, type: 'data', payload: { data: { onPoolTotalChanged: payload } } }));
      sent++;
    }
    if (sent >= FRAMES) clearInterval(timer);
  }, 10);
  ws.on('close', () => clearInterval(timer));
}
