/** The results of one `npm run bench` as the markdown tables of docs/benchmarks.md. */
import type { E2eResult, HistoryReport, IngestReport, PacedPublish } from './pipeline.js';
import type { Kind, SaturationStep, SseReport, Summary } from './sse.js';
import { fmt } from './stats.js';

const f2 = (x: number | null | undefined) => (x === null || x === undefined ? '–' : x.toFixed(2));
const n0 = (x: number | null | undefined) => (x === null || x === undefined ? '–' : fmt(x));
const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a == null || b == null || b === 0 ? '–' : (a / b).toFixed(2);
const LABEL: Record<Kind, string> = { bare: 'bare node:http', 'better-sse': 'better-sse 0.16.1', service: 'this service' };

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function sseRows(byKind: Partial<Record<Kind, Summary>>, stalled: boolean, failed: Partial<Record<Kind, string>> = {}): string[][] {
  return (['bare', 'better-sse', 'service'] as Kind[])
    .filter((k) => byKind[k] || failed[k])
    .map((k) => {
      const s = byKind[k];
      if (!s) return [LABEL[k], `did not finish: ${failed[k]}`, '', '', '', '', '', ...(stalled ? ['', ''] : []), ''];
      return [
        LABEL[k],
        n0(s.deliveriesPerS),
        `${n0(s.lagP50Ms)} / ${n0(s.lagP99Ms)}`,
        f2(s.serverCores),
        s.idleRssPerConnKb.toFixed(1),
        n0(s.loadRssGrowthMb),
        s.kernelTcpPeakRiseMb === null ? '–' : n0(s.kernelTcpPeakRiseMb),
        ...(stalled
          ? [
              s.stalledCutBySecond === null ? 'never' : `${s.stalledCutBySecond} s`,
              s.serverSocketQueuesMb == null ? '–' : `${s.serverSocketQueuesMb.toFixed(1)} / ${s.clientSocketQueuesMb!.toFixed(1)}`,
            ]
          : []),
        s.loadAverage.toFixed(1),
      ];
    });
}

export const pacedLabel = (r: PacedPublish): string =>
  `${fmt(r.rate)} msg/s, ${r.ordered ? `${fmt(r.keys)} ordering key${r.keys === 1 ? '' : 's'}` : `unordered (${fmt(r.keys)} products)`}`;

export function renderResults(r: Record<string, unknown>): string {
  const m = r.machine as Record<string, unknown>;
  const parts: string[] = [];
  parts.push(
    `Run of ${String(m.startedAt).slice(0, 16).replace('T', ' ')} UTC on ${String(m.cpu)}, ${String(m.memoryGiB)} GiB, ${String(m.kernel)}, node ${String(m.node)}, commit ${String(m.commit)}; ` +
      `load average ${(m.loadAverageAtStart as number[]).join(' ')} at the start, ${(m.loadAverageAtEnd as number[]).join(' ')} at the end. ` +
      `Versions: ${Object.entries(m.versions as Record<string, string>)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}.`,
  );

  const ingest = r.ingest as IngestReport | undefined;
  if (ingest) {
    const bare = ingest.medians.bare;
    const row = (label: string, t: { perS: number; cpuSecondsPer10k: number } | undefined, ref = bare) =>
      t ? [label, n0(t.perS), f2(t.cpuSecondsPer10k), ratio(t.perS, ref?.perS)] : [label, '–', '–', '–'];
    const rows = [
      row('bare `ws` + JSON.parse (reference)', bare),
      row('client + envelope + no-op bus', ingest.medians.noop),
      row('client + envelope + in-process bus', ingest.medians.memory),
      row('… + DuckDB history, stored', ingest.medians.duckdb),
      row('client + envelope + Pub/Sub emulator, ordered', ingest.medians.emulator),
    ];
    if (ingest.publish) {
      rows.push(
        row(
          `bare @google-cloud/pubsub, ${ingest.publish.keys} ordering keys, same data and attributes (reference)`,
          ingest.publish.bare,
          ingest.publish.bare,
        ),
      );
      rows.push(row('this publisher, same emulator and keys', ingest.publish.project, ingest.publish.bare));
      if (ingest.publish.bareDataOnly)
        rows.push(row('bare @google-cloud/pubsub, data without attributes', ingest.publish.bareDataOnly, ingest.publish.bare));
    }
    parts.push(
      `### Ingest (medians of ${ingest.rounds} alternating rounds)\n\n` +
        table(['path', 'msg/s', 'CPU-s per 10,000', 'ratio to its reference'], rows) +
        (ingest.emulatorMessagesPerRequest !== undefined
          ? `\n\nThrough the emulator the pipeline sent ${ingest.emulatorMessagesPerRequest.toFixed(1)} messages per publish request (200 ordering keys).`
          : ''),
    );
  }

  const e2e = r.e2e as E2eResult[] | undefined;
  if (e2e?.length) {
    parts.push(
      '### End to end (frame written by the Tote stand-in → event read by an SSE client)\n\n' +
        table(
          ['rate', 'bus', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'missed'],
          e2e.map((x) => [
            `${fmt(x.rate)}/s`,
            { memory: 'in-process', emulator: 'Pub/Sub emulator', 'bare-emulator': 'reference: bare client publish → pull, same emulator' }[
              x.mode
            ],
            n0(x.p50Ms),
            n0(x.p95Ms),
            n0(x.p99Ms),
            n0(x.maxMs),
            n0(x.missed),
          ]),
        ),
    );
  }

  const sse = r.sse as SseReport | undefined;
  if (sse) {
    const head = [
      'server',
      'deliveries/s',
      'lag p50 / p99 ms',
      'server CPU (cores)',
      'idle RSS KB/conn',
      'RSS growth MB',
      'kernel TCP rise MB',
      'load avg',
    ];
    for (const f of sse.fanout) {
      const demanded = f.clients * f.rate;
      parts.push(
        `### SSE fan-out: ${fmt(f.clients)} clients × ${f.rate} events/s (${fmt(demanded)} deliveries/s demanded; ${sse.payloadBytes}-byte payload)\n\n` +
          table(head, sseRows(f.byKind, false, f.failed)),
      );
    }
    if (sse.stalled) {
      const st = sse.stalled;
      const wo = st.withoutStalled.service;
      parts.push(
        `### SSE with ${fmt(st.stalled)} of ${fmt(st.clients)} clients stalled (connected, never reading), ${Math.round(st.events / st.rate)} s, service bound ${fmt(st.clientMaxBufferBytes / 1024)} KiB per client\n\n` +
          table(
            [...head.slice(0, -1), 'stalled all cut by', 'socket queues at the end, MB: server unacked / readers unread', 'load avg'],
            sseRows(st.byKind, true, st.failed),
          ) +
          (wo
            ? `\n\nThe service in the same rounds with every client reading: lag p99 ${n0(wo.lagP99Ms)} ms (readers' p99 with stalled clients / without: ${ratio(st.byKind.service?.lagP99Ms, wo.lagP99Ms)}).`
            : ''),
      );
    }
    if (sse.saturation) {
      const rows = (Object.entries(sse.saturation.byKind) as [Kind, SaturationStep[]][]).map(([k, steps]) => {
        const ok = steps.filter((s) => !s.failed && s.lagP99Ms <= 1000).at(-1);
        return [
          LABEL[k],
          steps
            .map((s) => (s.failed ? `${s.rate}/s → ${s.failed}` : `${s.rate}/s → ${fmt(s.deliveriesPerS)} (p99 ${fmt(s.lagP99Ms)} ms)`))
            .join('; '),
          ok ? `${ok.rate}/s, ${fmt(ok.deliveriesPerS)} deliveries/s` : 'none',
        ];
      });
      parts.push(
        `### SSE saturation: ${fmt(sse.saturation.clients)} clients, rate raised until p99 lag passes 1 s (one run per step)\n\n` +
          table(['server', 'steps (deliveries/s)', 'highest rate with p99 ≤ 1 s'], rows),
      );
    }
  }

  const h = r.history as HistoryReport | undefined;
  if (h) {
    parts.push(
      `### History (${fmt(h.rows)} rows written as fast as each store takes them)\n\n` +
        table(
          ['store', 'rows/s', 'CPU-s per 10,000', 'bytes per row', 'rows per insert request'],
          [
            ['DuckDB (file)', n0(h.duckdb.perS), f2(h.duckdb.cpuSecondsPer10k), `${n0(h.duckdb.bytesPerRow)} on disk`, '–'],
            [
              'BigQuery stand-in (insertAll)',
              n0(h.bigquery.perS),
              f2(h.bigquery.cpuSecondsPer10k),
              `${n0(h.bigquery.bytesPerRow)} in requests`,
              h.bigquery.rowsPerRequest.toFixed(0),
            ],
          ],
        ) +
        `\n\nAt 1,000 messages/s for ${h.at1000.seconds} s: ${h.at1000.bigqueryRowsPerRequest.toFixed(0)} rows per BigQuery insertAll request` +
        (h.at1000.publishMessagesPerRequest !== null
          ? `; ${h.at1000.publishMessagesPerRequest.toFixed(1)} messages per Pub/Sub publish request (${fmt(h.at1000.publishRequests!)} requests, 200 ordering keys).`
          : '.') +
        (h.at1000.publishByKeys?.length
          ? '\n\n' +
            table(
              ['this publisher, paced', 'messages per publish request', 'requests/s', 'CPU-s per 10,000', 'publish latency p50 / p99 ms'],
              h.at1000.publishByKeys.map((p) => [
                pacedLabel(p),
                p.messagesPerRequest.toFixed(1),
                n0(p.requestsPerS),
                f2(p.cpuSecondsPer10k),
                `${p.publishP50Ms ?? '–'} / ${p.publishP99Ms ?? '–'}`,
              ]),
            )
          : ''),
    );
  }
  return parts.join('\n\n');
}
