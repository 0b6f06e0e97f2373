import { Construct } from 'constructs';
import { MonitoringAlertPolicy, type MonitoringAlertPolicyConditions } from '@cdktf/provider-google/lib/monitoring-alert-policy/index.js';
import { MonitoringNotificationChannel } from '@cdktf/provider-google/lib/monitoring-notification-channel/index.js';
import { HISTORY_SPILL_SUBSCRIPTION } from '../../src/history/spill/names.js';
import type { InfraConfig } from '../config.js';
import { metricType, promMetric, type MetricKey } from '../metrics.js';
import type { UtcRange } from '../window.js';

const RUNBOOK = 'README.md, "Deploying to Google Cloud" > Operations';

/**
 * PromQL that is non-empty (so the alert fires) when no message type received
 * anything for `minutes` while the UTC clock is inside `range`. Alert
 * conditions cannot follow a time zone, so `range` is the part of the day that
 * is inside the window in winter and summer alike; outside it no instance
 * runs and silence is expected.
 */
export function silenceQuery(range: UtcRange, minutes: number): string {
  const minuteOfDay = '(hour() * 60 + minute())';
  return (
    `(sum(increase(${promMetric('receivingIntervals')}{monitored_resource="cloud_run_revision"}[${minutes}m])) or vector(0)) < 1` +
    ` and on() (${minuteOfDay} >= ${range.from} and ${minuteOfDay} < ${range.to})`
  );
}

function threshold(
  displayName: string,
  metric: MetricKey,
  opts: { aligner: string; reducer: string; period: string; above: number; duration?: string; groupBy?: string[] },
): MonitoringAlertPolicyConditions {
  return {
    displayName,
    conditionThreshold: {
      filter: `metric.type="${metricType(metric)}" AND resource.type="cloud_run_revision"`,
      aggregations: [
        {
          alignmentPeriod: opts.period,
          perSeriesAligner: opts.aligner,
          crossSeriesReducer: opts.reducer,
          groupByFields: opts.groupBy,
        },
      ],
      comparison: 'COMPARISON_GT',
      thresholdValue: opts.above,
      duration: opts.duration ?? '0s',
      trigger: { count: 1 },
    },
  };
}

/** Alert policies on the services' own figures, sent to the configured notification channels. */
export class Alerts extends Construct {
  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id);
    const a = config.settings.alerts;
    const channels = [...config.notificationChannels];
    if (config.alertEmail) {
      const email = new MonitoringNotificationChannel(this, 'email', {
        displayName: `Tote pipeline (${config.environment}) on-call email`,
        type: 'email',
        labels: { email_address: config.alertEmail },
      });
      channels.push(email.name);
    }

    const policy = (
      id: string,
      displayName: string,
      severity: 'CRITICAL' | 'ERROR' | 'WARNING',
      conditions: MonitoringAlertPolicyConditions[],
      content: string,
    ) =>
      new MonitoringAlertPolicy(this, id, {
        displayName: `[tote ${config.environment}] ${displayName}`,
        severity,
        combiner: 'OR',
        conditions,
        notificationChannels: channels,
        alertStrategy: { autoClose: '3600s' },
        documentation: { mimeType: 'text/markdown', content: `${content}\n\nRunbook: ${RUNBOOK}.` },
        userLabels: { component: 'monitoring' },
      });

    const w = config.window;
    policy(
      'silence',
      `No Tote messages for ${a.silenceMinutes} min inside ${w.start}-${w.end} ${w.timeZone}`,
      'CRITICAL',
      [
        {
          displayName: `No message of any type for ${a.silenceMinutes} minutes`,
          conditionPrometheusQueryLanguage: {
            query: silenceQuery(config.alertWindowUtc, a.silenceMinutes),
            evaluationInterval: '60s',
            duration: '0s',
            // The metric has no points until the subscriber first logs its stats.
            disableMetricValidation: true,
          },
        },
      ],
      'The subscriber is not receiving from Tote inside the daily window: it is not running, not connected, ' +
        'or Tote is sending nothing. Check GET /status of the subscriber (state, lastMessageAt, reconnects) ' +
        `and its logs. The condition covers ${utc(config.alertWindowUtc.from)}-${utc(config.alertWindowUtc.to)} UTC, ` +
        'the part of the window that is inside it in both GMT and BST.',
    );
    policy(
      'reconnect-storm',
      'Tote reconnect storm',
      'ERROR',
      [
        threshold(`More than ${a.reconnectsPer10Min} reconnects in 10 minutes`, 'reconnects', {
          aligner: 'ALIGN_SUM',
          reducer: 'REDUCE_SUM',
          period: '600s',
          above: a.reconnectsPer10Min,
        }),
      ],
      'The Tote socket keeps dropping. The "tote reconnecting" log lines carry the reason and class ' +
        '(auth: check the key in Secret Manager; network or server: Tote status).',
    );
    policy(
      'dead-letters',
      'Dead letters growing',
      'WARNING',
      [
        threshold(`More than ${a.deadLettersPer15Min} dead letters in 15 minutes`, 'deadLetters', {
          aligner: 'ALIGN_SUM',
          reducer: 'REDUCE_SUM',
          period: '900s',
          above: a.deadLettersPer15Min,
        }),
      ],
      'Messages are being dead-lettered (by reason on the dashboard). They are kept on the tote-dead-letter-archive ' +
        'subscription and in the tote_dead_letters table; a new or renamed Tote field is the usual cause.',
    );
    policy(
      'http-5xx',
      'HTTP 5xx',
      'ERROR',
      [
        threshold(`More than ${a.http5xxPer5Min} 5xx responses in 5 minutes`, 'http5xx', {
          aligner: 'ALIGN_SUM',
          reducer: 'REDUCE_SUM',
          period: '300s',
          above: a.http5xxPer5Min,
          groupBy: ['resource.label.service_name'],
        }),
      ],
      'One of the services answers with server errors; the service name is in the incident. See its request and application logs.',
    );
    policy(
      'history-backlog',
      'History backlog',
      'ERROR',
      [
        threshold(`More than ${a.historyBacklogRows} rows waiting for BigQuery for 10 minutes`, 'historyBacklog', {
          aligner: 'ALIGN_MEAN',
          reducer: 'REDUCE_MAX',
          period: '300s',
          above: a.historyBacklogRows,
          duration: '600s',
        }),
        {
          displayName: 'History rows spilled and waiting for replay',
          conditionThreshold: {
            filter:
              'metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" AND resource.type="pubsub_subscription" ' +
              `AND resource.label.subscription_id="${HISTORY_SPILL_SUBSCRIPTION}"`,
            aggregations: [{ alignmentPeriod: '300s', perSeriesAligner: 'ALIGN_MAX', crossSeriesReducer: 'REDUCE_MAX' }],
            comparison: 'COMPARISON_GT',
            thresholdValue: 0,
            duration: '0s',
            trigger: { count: 1 },
          },
        },
      ],
      'BigQuery is not keeping up or failing. Rows wait in the subscriber, then spill to the ' +
        `${HISTORY_SPILL_SUBSCRIPTION} subscription; once BigQuery is healthy, replay them with \`npm run replay-history\`.`,
    );
  }
}

function utc(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}
