/**
 * Load generator for the ingest benchmark, run in its own process so the
 * sender does not share the event loop it measures. Speaks just enough of
 * the legacy graphql-ws protocol: acks the init, notes the operation ids,
 * and once every operation has started sends FRAMES pre-serialised
 * PoolTotalChanged data frames as fast as the socket drains.
 */
import { WebSocketServer } from 'ws';

const FRAMES = Number(process.argv[2] ?? 50_000);
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
    const msg = JSON.parse(raw.toString());
    if (msg.type === 'connection_init') ws.send('{"type":"connection_ack"}');
    if (msg.type !== 'start') return;
    const root = /\{\s*(\w+)/.exec(String(msg.payload?.query).replace(/^subscription\s*\w*\s*/, ''))?.[1] ?? '';
    ids.set(root, msg.id);
    if (ids.size < OPERATIONS) return;
    const id = ids.get('onPoolTotalChanged')!;
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
