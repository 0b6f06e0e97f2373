import { Construct } from 'constructs';
import { MonitoringDashboard } from '@cdktf/provider-google/lib/monitoring-dashboard/index.js';
import type { InfraConfig } from '../config.js';
import { metricType, type MetricKey } from '../metrics.js';
import { windowSchedule } from '../window.js';

interface Series {
  metric: MetricKey;
  /** How one series becomes a point a minute. */
  aligner: 'ALIGN_MEAN' | 'ALIGN_SUM';
  /** How the series of several instances (or labels) are combined. */
  reducer: 'REDUCE_SUM' | 'REDUCE_MAX' | 'REDUCE_COUNT';
  groupBy?: string[];
  legend?: string;
  plot?: 'LINE' | 'STACKED_BAR';
}

function dataSet(s: Series) {
  return {
    plotType: s.plot ?? 'LINE',
    legendTemplate: s.legend,
    minAlignmentPeriod: '60s',
    timeSeriesQuery: {
      timeSeriesFilter: {
        filter: `metric.type="${metricType(s.metric)}" AND resource.type="cloud_run_revision"`,
        aggregation: {
          alignmentPeriod: '60s',
          perSeriesAligner: s.aligner,
          crossSeriesReducer: s.reducer,
          groupByFields: s.groupBy ?? [],
        },
      },
    },
  };
}

function chart(title: string, yLabel: string, series: Series[]) {
  return { title, xyChart: { dataSets: series.map(dataSet), yAxis: { label: yLabel, scale: 'LINEAR' } } };
}

/** One page for the operator: is the feed flowing, is it fast, is anyone watching. */
export class Dashboard extends Construct {
  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id);
    const w = config.window;
    const cron = windowSchedule(w, config.settings.schedule.scaleUpLeadMinutes, config.settings.schedule.scaleDownLagMinutes);
    const widgets = [
      {
        title: 'Schedule',
        text: {
          format: 'MARKDOWN',
          content:
            `The subscriber holds the Tote connection ${w.start}-${w.end} ${w.timeZone}. ` +
            `Its instance count is set to 1 at cron \`${cron.scaleUp}\` and to 0 at \`${cron.scaleDown}\` (${w.timeZone}); ` +
            'outside the window the subscriber charts are empty by design.',
        },
      },
      chart('Messages per minute, by type', 'messages / min', [
        { metric: 'received', aligner: 'ALIGN_MEAN', reducer: 'REDUCE_SUM', groupBy: ['metric.label.type'] },
      ]),
      chart('Subscriber instances reporting (1 inside the window)', 'instances', [
        { metric: 'publishBacklog', aligner: 'ALIGN_MEAN', reducer: 'REDUCE_COUNT' },
      ]),
      chart('Publish latency to Pub/Sub', 'ms', [
        { metric: 'publishLatencyP50', aligner: 'ALIGN_MEAN', reducer: 'REDUCE_MAX', legend: 'p50' },
        { metric: 'publishLatencyP99', aligner: 'ALIGN_MEAN', reducer: 'REDUCE_MAX', legend: 'p99' },
      ]),
      chart('Backlogs in the subscriber', 'envelopes / rows', [
        { metric: 'publishBacklog', aligner: 'ALIGN_MEAN', reducer: 'REDUCE_SUM', legend: 'Pub/Sub' },
        { metric: 'historyBacklog', aligner: 'ALIGN_MEAN', reducer: 'REDUCE_SUM', legend: 'BigQuery' },
      ]),
      chart('Reconnects per minute, by class', 'reconnects', [
        { metric: 'reconnects', aligner: 'ALIGN_SUM', reducer: 'REDUCE_SUM', groupBy: ['metric.label.class'], plot: 'STACKED_BAR' },
      ]),
      chart('Dead letters per minute, by reason', 'dead letters', [
        { metric: 'deadLetters', aligner: 'ALIGN_SUM', reducer: 'REDUCE_SUM', groupBy: ['metric.label.reason'], plot: 'STACKED_BAR' },
      ]),
      chart('SSE connections', 'open streams', [
        { metric: 'sseConnections', aligner: 'ALIGN_MEAN', reducer: 'REDUCE_SUM', legend: 'all instances' },
      ]),
      chart('Consumer lag, Tote to browser', 'ms', [
        { metric: 'sseLagP50', aligner: 'ALIGN_MEAN', reducer: 'REDUCE_MAX', legend: 'p50' },
        { metric: 'sseLagP99', aligner: 'ALIGN_MEAN', reducer: 'REDUCE_MAX', legend: 'p99' },
      ]),
      chart('Slow SSE clients disconnected per minute', 'clients', [
        { metric: 'sseSlowClients', aligner: 'ALIGN_SUM', reducer: 'REDUCE_SUM' },
      ]),
      chart('HTTP 5xx per minute, by service', 'responses', [
        { metric: 'http5xx', aligner: 'ALIGN_SUM', reducer: 'REDUCE_SUM', groupBy: ['resource.label.service_name'], plot: 'STACKED_BAR' },
      ]),
    ];
    // The text tile spans the page; charts sit two to a row.
    const tiles = widgets.map((widget, i) =>
      i === 0
        ? { xPos: 0, yPos: 0, width: 48, height: 4, widget }
        : { xPos: ((i - 1) % 2) * 24, yPos: 4 + Math.floor((i - 1) / 2) * 16, width: 24, height: 16, widget },
    );
    new MonitoringDashboard(this, 'dashboard', {
      dashboardJson: JSON.stringify({
        displayName: `Tote pipeline (${config.environment})`,
        labels: { app: 'tote-pipeline', environment: config.environment },
        mosaicLayout: { columns: 48, tiles },
      }),
    });
  }
}
