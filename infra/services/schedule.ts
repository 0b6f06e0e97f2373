import { Construct } from 'constructs';
import { CloudSchedulerJob, type CloudSchedulerJobHttpTarget } from '@cdktf/provider-google/lib/cloud-scheduler-job/index.js';
import type { CloudRunV2Service } from '@cdktf/provider-google/lib/cloud-run-v2-service/index.js';
import type { InfraConfig } from '../config.js';
import { NAMES, serviceAccountEmail } from '../names.js';
import { windowSchedule } from '../window.js';

/**
 * The daily window on Cloud Scheduler, in the window's own time zone (so the
 * BST/GMT change needs nothing): the instance count goes to 1 a few minutes
 * before the window, /start opens the Tote connection, /stop closes it and
 * flushes, and the count goes back to 0 so nothing runs overnight.
 *
 * /start and /stop carry an OIDC token of the scheduler account (audience:
 * the service URL); the scaling calls go to the Cloud Run Admin API with an
 * OAuth token of the scaler account.
 */
export class Schedule extends Construct {
  constructor(scope: Construct, id: string, config: InfraConfig, subscriber: CloudRunV2Service) {
    super(scope, id);
    const { projectId, region, window } = config;
    const { scaleUpLeadMinutes, scaleDownLagMinutes, retryCount } = config.settings.schedule;
    const cron = windowSchedule(window, scaleUpLeadMinutes, scaleDownLagMinutes);
    const windowText = `${window.start}-${window.end} ${window.timeZone}`;

    const job = (name: string, schedule: string, description: string, httpTarget: CloudSchedulerJobHttpTarget) =>
      new CloudSchedulerJob(this, name, {
        name,
        region,
        schedule,
        timeZone: window.timeZone,
        description,
        // /stop waits for Pub/Sub and BigQuery to flush; the Admin API answers in seconds.
        attemptDeadline: '120s',
        // A failed call is retried for about ten minutes: 10 s, 20 s, 40 s, 80 s, 160 s.
        retryConfig: { retryCount, minBackoffDuration: '10s', maxBackoffDuration: '300s', maxDoublings: 4 },
        httpTarget,
      });

    const control = (path: string): CloudSchedulerJobHttpTarget => ({
      httpMethod: 'POST',
      uri: `${subscriber.uri}${path}`,
      oidcToken: { serviceAccountEmail: serviceAccountEmail(NAMES.accounts.scheduler, projectId), audience: subscriber.uri },
    });
    const scaleTo = (count: number): CloudSchedulerJobHttpTarget => ({
      httpMethod: 'PATCH',
      uri:
        `https://run.googleapis.com/v2/projects/${projectId}/locations/${region}/services/${NAMES.subscriberService}` +
        '?updateMask=scaling.manualInstanceCount',
      headers: { 'Content-Type': 'application/json' },
      body: Buffer.from(JSON.stringify({ scaling: { manualInstanceCount: count } })).toString('base64'),
      oauthToken: {
        serviceAccountEmail: serviceAccountEmail(NAMES.accounts.scaler, projectId),
        scope: 'https://www.googleapis.com/auth/cloud-platform',
      },
    });

    job(NAMES.jobs.scaleUp, cron.scaleUp, `Subscriber instance count -> 1 before the window (${windowText})`, scaleTo(1));
    job(NAMES.jobs.start, cron.start, `POST /start: open the Tote connection (${windowText})`, control('/start'));
    job(NAMES.jobs.stop, cron.stop, `POST /stop: close the Tote connection and flush (${windowText})`, control('/stop'));
    job(NAMES.jobs.scaleDown, cron.scaleDown, `Subscriber instance count -> 0 after the window (${windowText})`, scaleTo(0));
  }
}
