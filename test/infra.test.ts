import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Testing } from '../infra/testing.js';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC } from '../src/catalog/catalog.js';
import { HISTORY_SPILL_SUBSCRIPTION, HISTORY_SPILL_TOPIC } from '../src/history/spill/names.js';
import {
  CLUSTER_COLUMNS,
  DEAD_LETTER_COLUMNS,
  DEAD_LETTERS_TABLE,
  MESSAGE_COLUMNS,
  MESSAGES_TABLE,
  NAMES_TABLE,
  PARTITION_COLUMN,
} from '../src/history/schema.js';
import { VIEW_NAMES, bigqueryViews } from '../src/history/sql-files.js';
import { defineStacks } from '../infra/app.js';
import { ConfigError, loadInfraConfig } from '../infra/config.js';
import { METRICS, metricType } from '../infra/metrics.js';
import { LEASE_OBJECT, NAMES, SECRETS, SSE_JWT_SECRET_ID } from '../infra/names.js';
import { silenceQuery } from '../infra/services/alerts.js';
import { alwaysInsideUtc, scaledPeriod, windowSchedule } from '../infra/window.js';

/** Synthesized offline: no terraform binary, no provider download, no network. */
const PROJECT = 'tote-test-project';
const IMAGE = 'europe-west2-docker.pkg.dev/tote-test-project/tote/tote-pipeline:20261121-abc1234';
/** Secret values present in the environment of `cdktf synth` must never reach the output. */
const SECRET_VALUES = {
  TOTE_API_KEY: 'key-7f3a9c1e5b2d4f6a8c0e',
  TOTE_GRAPHQL_URL: 'https://hub.example-tote.invalid/graphql?token=s3cr3t',
  TOTE_SUBSCRIPTIONS_URL: 'wss://hub.example-tote.invalid/subscriptions?token=s3cr3t',
};

type Resource = Record<string, any>;
interface Synthesized {
  json: string;
  resources: { type: string; id: string; body: Resource }[];
  byType(type: string): Resource[];
}

function synthesize(env: Record<string, string>) {
  const config = loadInfraConfig({ DEPLOY_PROJECT: PROJECT, DEPLOY_IMAGE: IMAGE, ...SECRET_VALUES, ...env });
  const stacks = defineStacks(Testing.app(), config);
  const parse = (json: string): Synthesized => {
    const doc = JSON.parse(json) as { resource: Record<string, Record<string, Resource>> };
    const resources = Object.entries(doc.resource).flatMap(([type, byId]) =>
      Object.entries(byId).map(([id, body]) => ({ type, id, body })),
    );
    return { json, resources, byType: (t) => resources.filter((r) => r.type === t).map((r) => r.body) };
  };
  return {
    config,
    stacks,
    foundation: parse(Testing.synth(stacks.foundation)),
    services: parse(Testing.synth(stacks.services)),
  };
}

const prod = synthesize({ DEPLOY_ENV: 'prod' });
const dev = synthesize({ DEPLOY_ENV: 'dev' });
const all = (s: typeof prod) => [...s.foundation.resources, ...s.services.resources];
const member = (account: string) => `serviceAccount:${account}@${PROJECT}.iam.gserviceaccount.com`;
/**
 * Every IAM grant of the app, whatever the resource it is on, with references to the stack's own
 * accounts and custom roles (how the foundation stack orders creation before grants) spelled out.
 */
const grants = (s: typeof prod) => {
  const spelled = new Map<string, string>();
  for (const r of s.foundation.resources) {
    if (r.type === 'google_service_account')
      spelled.set(`\${google_service_account.${r.id}.email}`, `${r.body.account_id}@${PROJECT}.iam.gserviceaccount.com`);
    if (r.type === 'google_project_iam_custom_role')
      spelled.set(`\${google_project_iam_custom_role.${r.id}.name}`, `projects/${PROJECT}/roles/${r.body.role_id}`);
  }
  const spell = (v: string) => [...spelled].reduce((acc, [ref, name]) => acc.replace(ref, name), v);
  return all(s)
    .filter((r) => /_iam_(member|binding|policy)$/.test(r.type))
    .map((r): Resource => ({ type: r.type, ...r.body, member: spell(r.body.member ?? ''), role: spell(r.body.role ?? '') }));
};

describe('infra: Pub/Sub from the catalog', () => {
  const topics = prod.foundation.byType('google_pubsub_topic');

  it('creates one topic per catalog entry, plus the day-card, dead-letter and history spill topics', () => {
    const names = topics.map((t) => t.name).sort();
    expect(names).toEqual([...CATALOG.map((e) => e.topic), DAY_CARD_TOPIC, DEAD_LETTER_TOPIC, HISTORY_SPILL_TOPIC].sort());
  });

  it('retains the feed and the day card for the whole window plus a margin, so a fresh SSE instance can seek back to its start', () => {
    const retention = (name: string) => Number(topics.find((t) => t.name === name)!.message_retention_duration.replace(/s$/, ''));
    for (const name of [...CATALOG.map((e) => e.topic), DAY_CARD_TOPIC]) expect(retention(name)).toBe(18 * 3600);
    for (const name of [DEAD_LETTER_TOPIC, HISTORY_SPILL_TOPIC]) expect(retention(name)).toBe(7 * 24 * 3600);
    // Retention follows the window setting: a longer window keeps more.
    const long = synthesize({ DEPLOY_ENV: 'prod', SUBSCRIBER_WINDOW_START: '05:00', SUBSCRIBER_WINDOW_END: '23:30' });
    const longDayCard = long.foundation.byType('google_pubsub_topic').find((t) => t.name === DAY_CARD_TOPIC)!;
    expect(longDayCard.message_retention_duration).toBe(`${(18 * 60 + 30 + 60) * 60}s`);
  });

  it('stores every message in the deployment region only', () => {
    for (const t of topics) expect(t.message_storage_policy).toEqual({ allowed_persistence_regions: ['europe-west2'] });
    const elsewhere = synthesize({ DEPLOY_ENV: 'prod', DEPLOY_REGION: 'europe-west1' });
    for (const t of elsewhere.foundation.byType('google_pubsub_topic')) {
      expect(t.message_storage_policy.allowed_persistence_regions).toEqual(['europe-west1']);
    }
  });

  it('keeps dead letters and spilled history rows on never-expiring subscriptions', () => {
    const subs = prod.foundation.byType('google_pubsub_subscription');
    expect(subs.map((s) => s.name).sort()).toEqual([NAMES.deadLetterArchive, HISTORY_SPILL_SUBSCRIPTION].sort());
    for (const s of subs) {
      expect(s.expiration_policy).toEqual({ ttl: '' });
      expect(s.message_retention_duration).toBe('604800s');
    }
  });
});

describe('infra: BigQuery history', () => {
  const tables = prod.foundation.byType('google_bigquery_table');
  const table = (id: string) => tables.find((t) => t.table_id === id)!;

  it('creates the dataset in the configured location (europe-west2 by default)', () => {
    const [dataset] = prod.foundation.byType('google_bigquery_dataset');
    expect(dataset).toMatchObject({ dataset_id: NAMES.dataset, location: 'europe-west2' });
    const moved = synthesize({ DEPLOY_ENV: 'prod', DEPLOY_BQ_LOCATION: 'EU' });
    expect(moved.foundation.byType('google_bigquery_dataset')[0]).toMatchObject({ location: 'EU' });
  });

  it('gives both tables every column of the history schema, with its type and mode', () => {
    for (const [id, columns] of [
      [MESSAGES_TABLE, MESSAGE_COLUMNS],
      [DEAD_LETTERS_TABLE, DEAD_LETTER_COLUMNS],
    ] as const) {
      const schema = JSON.parse(table(id).schema) as { name: string; type: string; mode: string }[];
      expect(schema.map(({ name, type, mode }) => ({ name, type, mode }))).toEqual(
        columns.map(({ name, type, mode }) => ({ name, type, mode })),
      );
      expect(table(id).time_partitioning).toMatchObject({ type: 'DAY', field: PARTITION_COLUMN });
    }
    expect(table(MESSAGES_TABLE).clustering).toEqual([...CLUSTER_COLUMNS]);
  });

  it('creates every analysis view from sql/views, qualified for the dataset, each after the views it reads', () => {
    const views = tables.filter((t) => t.view);
    expect(views.map((v) => v.table_id).sort()).toEqual([...VIEW_NAMES].sort());
    for (const v of bigqueryViews(PROJECT, NAMES.dataset)) {
      const made = table(v.name);
      expect(made.view).toEqual({ query: v.sql, use_legacy_sql: false });
      expect(made.view.query).toContain(`\`${PROJECT}.${NAMES.dataset}.`);
    }
    const last = prod.foundation.resources.find((r) => r.body.table_id === VIEW_NAMES[VIEW_NAMES.length - 1])!;
    expect(last.body.depends_on).toHaveLength(3 + VIEW_NAMES.length - 1);
  });

  it('protects prod tables and lets dev partitions expire', () => {
    expect(table(MESSAGES_TABLE).deletion_protection).toBe(true);
    expect(table(MESSAGES_TABLE).time_partitioning.expiration_ms).toBeUndefined();
    const devTable = dev.foundation.byType('google_bigquery_table').find((t) => t.table_id === MESSAGES_TABLE)!;
    expect(devTable.deletion_protection).toBe(false);
    expect(devTable.time_partitioning.expiration_ms).toBe(30 * 24 * 3600 * 1000);
  });
});

describe('infra: least privilege', () => {
  const g = grants(prod);

  it('grants no primitive role and nothing authoritative, anywhere', () => {
    const roles = all(prod).flatMap((r) => (typeof r.body.role === 'string' ? [r.body.role as string] : []));
    expect(roles.length).toBeGreaterThan(30);
    for (const role of roles) expect(['roles/owner', 'roles/editor', 'roles/viewer']).not.toContain(role);
    expect(all(prod).filter((r) => /_iam_(binding|policy)$/.test(r.type))).toEqual([]);
  });

  it('makes only the SSE service public; the subscriber is invoked by the scheduler account alone', () => {
    const publicGrants = g.filter((x) => x.member === 'allUsers' || x.member === 'allAuthenticatedUsers');
    expect(publicGrants).toHaveLength(1);
    const sse = prod.services.resources.find((r) => r.type === 'google_cloud_run_v2_service' && r.body.name === NAMES.sseService)!;
    expect(publicGrants[0]).toMatchObject({ role: 'roles/run.invoker', name: `\${google_cloud_run_v2_service.${sse.id}.name}` });
    const subscriber = prod.services.resources.find(
      (r) => r.type === 'google_cloud_run_v2_service' && r.body.name === NAMES.subscriberService,
    )!;
    const onSubscriber = g.filter((x) => x.name === `\${google_cloud_run_v2_service.${subscriber.id}.name}`);
    expect(onSubscriber.map((x) => [x.role, x.member]).sort()).toEqual([
      [`projects/${PROJECT}/roles/${NAMES.roles.subscriberScaler}`, member(NAMES.accounts.scaler)],
      ['roles/run.invoker', member(NAMES.accounts.scheduler)],
    ]);
    expect(subscriber.body.invoker_iam_disabled).toBe(false);
  });

  it('lets the subscriber publish on its topics, insert into its three tables and read its three secrets, nothing more', () => {
    const mine = g.filter((x) => x.member === member(NAMES.accounts.subscriber));
    const publish = mine.filter((x) => x.role === 'roles/pubsub.publisher');
    const topicOf = (ref: string) => prod.foundation.resources.find((r) => ref === `\${google_pubsub_topic.${r.id}.name}`)!.body.name;
    expect(publish.map((x) => topicOf(x.topic)).sort()).toEqual(
      [...CATALOG.map((e) => e.topic), DAY_CARD_TOPIC, DEAD_LETTER_TOPIC, HISTORY_SPILL_TOPIC].sort(),
    );
    const inserter = `projects/${PROJECT}/roles/${NAMES.roles.historyInserter}`;
    expect(
      mine
        .filter((x) => x.type === 'google_bigquery_table_iam_member')
        .map((x) => [x.role, x.table_id])
        .sort(),
    ).toEqual([
      [inserter, expect.stringContaining(DEAD_LETTERS_TABLE)],
      [inserter, expect.stringContaining(MESSAGES_TABLE)],
      [inserter, expect.stringContaining(NAMES_TABLE)],
    ]);
    expect(mine.filter((x) => x.type === 'google_bigquery_dataset_iam_member').map((x) => x.role)).toEqual([
      'roles/bigquery.metadataViewer',
    ]);
    expect(mine.filter((x) => x.role === 'roles/secretmanager.secretAccessor')).toHaveLength(3);
    expect(mine.filter((x) => x.type === 'google_storage_bucket_iam_member').map((x) => x.role)).toEqual(['roles/storage.objectUser']);
    expect(mine).toHaveLength(publish.length + 3 + 1 + 3 + 1);
  });

  it('streams history with a role that can insert rows but not delete, alter or read the tables', () => {
    const role = prod.foundation.byType('google_project_iam_custom_role').find((r) => r.role_id === NAMES.roles.historyInserter)!;
    expect([...role.permissions].sort()).toEqual(['bigquery.tables.get', 'bigquery.tables.updateData']);
    expect(g.filter((x) => /^roles\/bigquery\.(dataEditor|dataOwner|admin|user)$/.test(x.role))).toEqual([]);
  });

  it('lets no account but the subscriber read any Tote secret, in any way', () => {
    const secretIds = new Map(
      prod.foundation.resources
        .filter((r) => r.type === 'google_secret_manager_secret')
        .map((r) => [`\${google_secret_manager_secret.${r.id}.id}`, r.body.secret_id as string]),
    );
    expect([...secretIds.values()].sort()).toEqual(Object.values(SECRETS).sort());
    // Every grant on a secret, whatever the role, goes to the subscriber; each secret has exactly its read grant.
    const onSecrets = g.filter((x) => x.type.startsWith('google_secret_manager_secret_iam'));
    for (const x of onSecrets)
      expect({ secret: secretIds.get(x.secret_id), member: x.member }).toEqual({
        secret: expect.any(String),
        member: member(NAMES.accounts.subscriber),
      });
    expect(onSecrets.map((x) => secretIds.get(x.secret_id)).sort()).toEqual(Object.values(SECRETS).sort());
    // No grant above the secrets (project, dataset, topic ...) carries a Secret Manager role or a custom role with access.
    const customWithAccess = new Set(
      prod.foundation
        .byType('google_project_iam_custom_role')
        .filter((r) => (r.permissions as string[]).some((p) => p.startsWith('secretmanager.')))
        .map((r) => `projects/${PROJECT}/roles/${r.role_id}`),
    );
    const elsewhere = g.filter((x) => !x.type.startsWith('google_secret_manager_secret_iam'));
    expect(elsewhere.filter((x) => x.role.startsWith('roles/secretmanager.') || customWithAccess.has(x.role))).toEqual([]);
    // Nor does a service other than the subscriber carry a reference it could not resolve anyway.
    const sse = prod.services.byType('google_cloud_run_v2_service').find((s) => s.name === NAMES.sseService)!;
    expect(JSON.stringify(sse.template)).not.toContain('sm://');
  });

  it('lets the SSE account attach to the feed and day-card topics and manage its subscriptions, with no BigQuery or secret access', () => {
    const mine = g.filter((x) => x.member === member(NAMES.accounts.sse));
    const attach = mine.filter((x) => x.role === 'roles/pubsub.subscriber');
    expect(attach).toHaveLength(CATALOG.length + 1);
    const dayCard = prod.foundation.resources.find((r) => r.type === 'google_pubsub_topic' && r.body.name === DAY_CARD_TOPIC)!;
    expect(attach.map((x) => x.topic)).toContain(`\${google_pubsub_topic.${dayCard.id}.name}`);
    expect(mine.filter((x) => x.type.startsWith('google_bigquery'))).toEqual([]);
    expect(mine.filter((x) => x.type.startsWith('google_secret_manager'))).toEqual([]);
    const role = prod.foundation.byType('google_project_iam_custom_role').find((r) => r.role_id === NAMES.roles.sseSubscriptions)!;
    expect([...role.permissions].sort()).toEqual([
      'pubsub.subscriptions.consume',
      'pubsub.subscriptions.create',
      'pubsub.subscriptions.delete',
      'pubsub.subscriptions.get',
    ]);
    const projectWide = mine.filter((x) => x.type === 'google_project_iam_member');
    expect(projectWide).toHaveLength(1);
    expect(mine).toHaveLength(attach.length + 1 + 1);
  });

  it('lets the scaler change the subscriber alone, and grants project-wide only log writing and the SSE role', () => {
    const role = prod.foundation.byType('google_project_iam_custom_role').find((r) => r.role_id === NAMES.roles.subscriberScaler)!;
    expect([...role.permissions].sort()).toEqual(['run.services.get', 'run.services.update']);
    const projectWide = g.filter((x) => x.type === 'google_project_iam_member').map((x) => [x.role, x.member]);
    expect(projectWide.sort()).toEqual([
      [`projects/${PROJECT}/roles/${NAMES.roles.sseSubscriptions}`, member(NAMES.accounts.sse)],
      ['roles/logging.logWriter', member(NAMES.accounts.builder)],
    ]);
    const scheduler = g.filter((x) => x.member === member(NAMES.accounts.scheduler));
    expect(scheduler.map((x) => x.role)).toEqual(['roles/run.invoker']);
    const scaler = g.filter((x) => x.member === member(NAMES.accounts.scaler));
    expect(scaler.map((x) => [x.type, x.role]).sort()).toEqual([
      ['google_cloud_run_v2_service_iam_member', `projects/${PROJECT}/roles/${NAMES.roles.subscriberScaler}`],
      ['google_service_account_iam_member', 'roles/iam.serviceAccountUser'],
    ]);
  });
});

describe('infra: secrets', () => {
  it('creates the three secrets in the region without any value: versions come from scripts/set-secrets.sh', () => {
    const secrets = prod.foundation.byType('google_secret_manager_secret');
    expect(secrets.map((s) => s.secret_id).sort()).toEqual(['tote-api-key', 'tote-graphql-url', 'tote-subscriptions-url']);
    for (const s of secrets) expect(s.replication).toEqual({ user_managed: { replicas: [{ location: 'europe-west2' }] } });
    expect(all(prod).filter((r) => r.type === 'google_secret_manager_secret_version')).toEqual([]);
  });

  it('hands the subscriber Secret Manager references, never values, even with values in the environment', () => {
    const envOf = (name: string) =>
      Object.fromEntries(
        prod.services
          .byType('google_cloud_run_v2_service')
          .find((s) => s.name === name)!
          .template.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
      );
    const ref = (secret: string) => `sm://projects/${PROJECT}/secrets/${secret}/versions/latest`;
    expect(envOf(NAMES.subscriberService)).toMatchObject({
      TOTE_API_KEY: ref('tote-api-key'),
      TOTE_GRAPHQL_URL: ref('tote-graphql-url'),
      TOTE_SUBSCRIPTIONS_URL: ref('tote-subscriptions-url'),
    });
    for (const name of ['TOTE_API_KEY', 'TOTE_GRAPHQL_URL', 'TOTE_SUBSCRIPTIONS_URL'])
      expect(envOf(NAMES.sseService)).not.toHaveProperty(name);
    for (const s of [prod, dev]) {
      for (const json of [s.foundation.json, s.services.json, Testing.synthHcl(s.stacks.services)]) {
        for (const value of Object.values(SECRET_VALUES)) expect(json).not.toContain(value);
        expect(json).not.toContain('s3cr3t');
      }
    }
  });
});

describe('infra: Cloud Run', () => {
  const service = (name: string) => prod.services.byType('google_cloud_run_v2_service').find((s) => s.name === name)!;

  it('bills both services per instance (cpu_idle false written out) and probes /health', () => {
    for (const name of [NAMES.subscriberService, NAMES.sseService]) {
      const [container] = service(name).template.containers;
      expect(container.resources.cpu_idle).toBe(false);
      expect(container.image).toBe(IMAGE);
      expect(container.command).toEqual(['node']);
      expect(container.startup_probe.http_get.path).toBe('/health');
      expect(container.liveness_probe.http_get.path).toBe('/health');
    }
    expect(service(NAMES.subscriberService).template.containers[0].args).toEqual(['dist/src/subscriber/main.js']);
    expect(service(NAMES.sseService).template.containers[0].args).toEqual(['dist/src/sse/main.js']);
  });

  it('runs the subscriber on 2 vCPU / 1 GiB, manually scaled, with the scale left to the schedule', () => {
    const s = service(NAMES.subscriberService);
    expect(s.template.containers[0].resources.limits).toEqual({ cpu: '2', memory: '1Gi' });
    expect(s.scaling).toEqual({ scaling_mode: 'MANUAL', manual_instance_count: 0 });
    expect(s.lifecycle.ignore_changes).toEqual(['scaling']);
    expect(s.ingress).toBe('INGRESS_TRAFFIC_ALL');
    const env = Object.fromEntries(s.template.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(env).toMatchObject({
      BUS: 'pubsub',
      HISTORY: 'bigquery',
      GOOGLE_CLOUD_PROJECT: PROJECT,
      BQ_DATASET: NAMES.dataset,
      SUBSCRIBER_AUTO_START: 'true',
      SUBSCRIBER_WINDOW_START: '06:00',
      SUBSCRIBER_WINDOW_END: '23:00',
      SUBSCRIBER_TIME_ZONE: 'Europe/London',
    });
  });

  it('sizes the SSE service for long-lived streams and caps its autoscaling', () => {
    const s = service(NAMES.sseService);
    expect(s.template.timeout).toBe('3600s');
    expect(s.template.max_instance_request_concurrency).toBe(1000);
    expect(s.template.scaling).toEqual({ min_instance_count: 0, max_instance_count: 10 });
    expect(s.scaling).toBeUndefined();
    const devSse = dev.services.byType('google_cloud_run_v2_service').find((x) => x.name === NAMES.sseService)!;
    expect(devSse.template.scaling.max_instance_count).toBe(2);
  });
});

describe('infra: the daily window', () => {
  const jobs = prod.services.byType('google_cloud_scheduler_job');
  const job = (name: string) => jobs.find((j) => j.name === name)!;
  const subscriberId = prod.services.resources.find(
    (r) => r.type === 'google_cloud_run_v2_service' && r.body.name === NAMES.subscriberService,
  )!.id;
  const uri = `\${google_cloud_run_v2_service.${subscriberId}.uri}`;

  it('POSTs /start at 06:00 and /stop at 23:00 London time with an OIDC token for the subscriber URL', () => {
    expect(job(NAMES.jobs.start)).toMatchObject({ schedule: '0 6 * * *', time_zone: 'Europe/London' });
    expect(job(NAMES.jobs.stop)).toMatchObject({ schedule: '0 23 * * *', time_zone: 'Europe/London' });
    for (const [name, path] of [
      [NAMES.jobs.start, '/start'],
      [NAMES.jobs.stop, '/stop'],
    ]) {
      expect(job(name!).http_target).toMatchObject({
        http_method: 'POST',
        uri: `${uri}${path}`,
        oidc_token: { audience: uri, service_account_email: `${NAMES.accounts.scheduler}@${PROJECT}.iam.gserviceaccount.com` },
      });
      expect(job(name!).retry_config.retry_count).toBe(5);
    }
  });

  it('scales the subscriber to one instance before the window and to none after it, through the Admin API', () => {
    const decode = (j: Resource) => JSON.parse(Buffer.from(j.http_target.body, 'base64').toString('utf8'));
    expect(job(NAMES.jobs.scaleUp).schedule).toBe('55 5 * * *');
    expect(job(NAMES.jobs.scaleDown).schedule).toBe('5 23 * * *');
    expect(decode(job(NAMES.jobs.scaleUp))).toEqual({ scaling: { manualInstanceCount: 1 } });
    expect(decode(job(NAMES.jobs.scaleDown))).toEqual({ scaling: { manualInstanceCount: 0 } });
    for (const name of [NAMES.jobs.scaleUp, NAMES.jobs.scaleDown]) {
      expect(job(name).time_zone).toBe('Europe/London');
      expect(job(name).http_target).toMatchObject({
        http_method: 'PATCH',
        uri: `https://run.googleapis.com/v2/projects/${PROJECT}/locations/europe-west2/services/${NAMES.subscriberService}?updateMask=scaling.manualInstanceCount`,
        oauth_token: { scope: 'https://www.googleapis.com/auth/cloud-platform' },
      });
      expect(job(name).http_target.oidc_token).toBeUndefined();
    }
  });

  it('moves the service, the scheduler and the alerts together when the window setting changes', () => {
    const late = synthesize({ DEPLOY_ENV: 'prod', SUBSCRIBER_WINDOW_START: '08:30', SUBSCRIBER_WINDOW_END: '21:15' });
    const lateJobs = late.services.byType('google_cloud_scheduler_job');
    const cron = (name: string) => lateJobs.find((j) => j.name === name)!.schedule;
    expect([cron(NAMES.jobs.scaleUp), cron(NAMES.jobs.start), cron(NAMES.jobs.stop), cron(NAMES.jobs.scaleDown)]).toEqual([
      '25 8 * * *',
      '30 8 * * *',
      '15 21 * * *',
      '20 21 * * *',
    ]);
    const sub = late.services.byType('google_cloud_run_v2_service').find((s) => s.name === NAMES.subscriberService)!;
    const env = Object.fromEntries(sub.template.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect([env.SUBSCRIBER_WINDOW_START, env.SUBSCRIBER_WINDOW_END]).toEqual(['08:30', '21:15']);
    // 08:30 BST is 07:30 UTC, 08:30 GMT is 08:30 UTC: the alert may look from 08:30 + 15 min grace to 20:15 UTC.
    expect(late.config.alertWindowUtc).toEqual({ from: 8 * 60 + 45, to: 20 * 60 + 15 });
  });

  it('keeps the silence alert to the part of the day inside the window in both GMT and BST', () => {
    const w = { start: '06:00', end: '23:00', timeZone: 'Europe/London' };
    expect(windowSchedule(w, 5, 5)).toEqual({ scaleUp: '55 5 * * *', start: '0 6 * * *', stop: '0 23 * * *', scaleDown: '5 23 * * *' });
    expect(alwaysInsideUtc(w, 15, 2026)).toEqual({ from: 6 * 60 + 15, to: 22 * 60 });
    expect(alwaysInsideUtc({ ...w, timeZone: 'UTC' }, 0, 2026)).toEqual({ from: 360, to: 1380 });
    expect(alwaysInsideUtc({ ...w, start: '22:00', end: '02:00' }, 0, 2026)).toBeNull();
    const policy = prod.services.byType('google_monitoring_alert_policy').find((p) => p.display_name.includes('No Tote messages'))!;
    expect(policy.conditions[0].condition_prometheus_query_language.query).toBe(silenceQuery({ from: 375, to: 1320 }, 15));
    expect(silenceQuery({ from: 375, to: 1320 }, 15)).toContain('>= 375 and (hour() * 60 + minute()) < 1320');
  });

  /** The deploy scripts' own tests of the clock (scripts/deploy-env.sh), run by bash at given minutes of the day. */
  const scriptDecisions = (period: { from: number; until: number }, minutes: number[]) => {
    const lines = minutes.map(
      (m) =>
        `printf '%s %s %s\\n' ${m} "$(schedule_keeps_instance ${m} && echo keep || echo -)" "$(schedule_wants_instance ${m} && echo want || echo -)"`,
    );
    const run = spawnSync('bash', ['--norc', '--noprofile', '-c', `source scripts/deploy-env.sh\n${lines.join('\n')}`], {
      env: { PATH: process.env.PATH ?? '', SCALED_FROM: String(period.from), SCALED_UNTIL: String(period.until) },
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    return Object.fromEntries(
      run.stdout
        .trim()
        .split('\n')
        .map((l) => {
          const [m, keep, want] = l.split(' ');
          return [Number(m), `${keep} ${want}`];
        }),
    );
  };
  const at = (hh: number, mm: number) => hh * 60 + mm;

  it('lets the scripts scale the subscriber only where the schedule cannot undo it, lead and lag included', () => {
    const w = { start: '06:00', end: '23:00', timeZone: 'Europe/London' };
    const period = scaledPeriod(w, 5, 5);
    expect(period).toEqual({ from: at(5, 55), until: at(23, 5) });
    const d = scriptDecisions(period, [
      at(3, 0),
      at(5, 45),
      at(5, 53),
      at(5, 55),
      at(5, 58),
      at(12, 0),
      at(23, 2),
      at(23, 3),
      at(23, 4),
      at(23, 5),
      at(23, 30),
    ]);
    expect(d).toEqual({
      [at(3, 0)]: '- -',
      // A smoke run ending here puts its instance back to 0; the 05:55 job sets 1 afterwards.
      [at(5, 45)]: '- -',
      // Too close to the 05:55 scale-up to scale down: the job's call could land first and be undone.
      [at(5, 53)]: 'keep -',
      // A smoke run started at 05:45 and ending at 05:58 leaves the instance the schedule set.
      [at(5, 55)]: 'keep want',
      [at(5, 58)]: 'keep want',
      [at(12, 0)]: 'keep want',
      [at(23, 2)]: 'keep want',
      // A deploy started at 22:55 and ending at 23:03 adds no instance the 23:05 scale-down could miss.
      [at(23, 3)]: 'keep -',
      [at(23, 4)]: 'keep -',
      [at(23, 5)]: '- -',
      [at(23, 30)]: '- -',
    });
  });

  it('follows a scaled period that crosses midnight', () => {
    const period = scaledPeriod({ start: '00:02', end: '23:00', timeZone: 'Europe/London' }, 5, 5);
    expect(period).toEqual({ from: at(23, 57), until: at(23, 5) });
    expect(scriptDecisions(period, [at(23, 55), at(23, 58), at(0, 1), at(23, 2), at(23, 10)])).toEqual({
      [at(23, 55)]: 'keep -',
      [at(23, 58)]: 'keep want',
      [at(0, 1)]: 'keep want',
      [at(23, 2)]: 'keep want',
      [at(23, 10)]: '- -',
    });
  });

  it('refuses a window the alerts cannot follow, naming the variables', () => {
    expect(() => loadInfraConfig({ DEPLOY_PROJECT: PROJECT, SUBSCRIBER_WINDOW_START: '22:00', SUBSCRIBER_WINDOW_END: '02:00' })).toThrow(
      /SUBSCRIBER_WINDOW_START\/END 22:00-02:00/,
    );
  });
});

describe('infra: monitoring', () => {
  const logMetrics = prod.foundation.byType('google_logging_metric');

  it('defines every figure as a log-based metric over the services logs', () => {
    expect(logMetrics.map((m) => m.name).sort()).toEqual(
      Object.values(METRICS)
        .map((m) => m.name)
        .sort(),
    );
    for (const m of logMetrics) {
      expect(m.filter).toMatch(/^resource\.type="cloud_run_revision" AND resource\.labels\.service_name=/);
      expect(m.metric_descriptor.value_type).toBe('value_extractor' in m ? 'DISTRIBUTION' : 'INT64');
    }
    const received = logMetrics.find((m) => m.name === METRICS.received.name)!;
    expect(received).toMatchObject({
      value_extractor: 'EXTRACT(jsonPayload.received)',
      label_extractors: { type: 'EXTRACT(jsonPayload.type)', instance_id: 'EXTRACT(labels.instanceId)' },
    });
  });

  it('alerts and charts only on metrics the stack defines (or Pub/Sub own backlog figure)', () => {
    const defined = new Set(Object.keys(METRICS).map((k) => metricType(k as keyof typeof METRICS)));
    const referenced = [...prod.services.json.matchAll(/metric\.type=\\+"([^"\\]+)\\+"/g)].map((m) => m[1]!);
    expect(referenced.length).toBeGreaterThan(15);
    for (const type of referenced) {
      if (type.startsWith('pubsub.googleapis.com/')) continue;
      expect(defined).toContain(type);
    }
  });

  it('raises the five alerts, to the configured channels', () => {
    const withChannels = synthesize({
      DEPLOY_ENV: 'prod',
      DEPLOY_ALERT_EMAIL: 'oncall@example.com',
      DEPLOY_NOTIFICATION_CHANNELS: `projects/${PROJECT}/notificationChannels/42`,
    });
    const policies = withChannels.services.byType('google_monitoring_alert_policy');
    expect(policies.map((p) => p.display_name.replace('[tote prod] ', '')).sort()).toEqual(
      [
        'Dead letters growing',
        'HTTP 5xx',
        'History backlog',
        'No Tote messages for 15 min inside 06:00-23:00 Europe/London',
        'Tote reconnect storm',
      ].sort(),
    );
    const [email] = withChannels.services.byType('google_monitoring_notification_channel');
    expect(email).toMatchObject({ type: 'email', labels: { email_address: 'oncall@example.com' } });
    for (const p of policies) {
      expect(p.notification_channels).toEqual([
        `projects/${PROJECT}/notificationChannels/42`,
        expect.stringMatching(/^\$\{google_monitoring_notification_channel\./),
      ]);
    }
  });

  it('puts message rate by type, publish latency, SSE connections and consumer lag on the dashboard', () => {
    const [dashboard] = prod.services.byType('google_monitoring_dashboard');
    const titles = JSON.parse(dashboard!.dashboard_json).mosaicLayout.tiles.map((t: { widget: { title: string } }) => t.widget.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        'Messages per minute, by type',
        'Publish latency to Pub/Sub',
        'SSE connections',
        'Consumer lag, Tote to browser',
      ]),
    );
  });
});

describe('infra: labels and environments', () => {
  /** Resource types that take no labels at all; anything else must carry the stack's labels. */
  const UNLABELLED = new Set([
    'google_project_service',
    'google_service_account',
    'google_project_iam_custom_role',
    'google_logging_metric',
    'google_cloud_scheduler_job',
    'google_monitoring_dashboard',
  ]);

  it('labels every resource that takes labels with app, environment and managed-by', () => {
    const withChannel = synthesize({ DEPLOY_ENV: 'dev', DEPLOY_ALERT_EMAIL: 'oncall@example.com' });
    const labelled = all(withChannel).filter((r) => !UNLABELLED.has(r.type) && !/_iam_member$/.test(r.type));
    expect(new Set(labelled.map((r) => r.type)).size).toBeGreaterThan(8);
    for (const r of labelled) {
      const labels = r.type.startsWith('google_monitoring_') ? r.body.user_labels : r.body.labels;
      expect({ type: r.type, labels }).toMatchObject({
        labels: { app: 'tote-pipeline', environment: 'dev', 'managed-by': 'cdktf' },
      });
    }
  });

  it('keeps the state of each environment and stack apart in the bootstrap bucket', () => {
    const backend = (json: string) => JSON.parse(json).terraform.backend.gcs;
    expect(backend(prod.foundation.json)).toEqual({ bucket: `${PROJECT}-tote-tfstate`, prefix: 'tote/prod/foundation' });
    expect(backend(dev.services.json)).toEqual({ bucket: `${PROJECT}-tote-tfstate`, prefix: 'tote/dev/services' });
    expect(prod.stacks.services.dependencies).toContain(prod.stacks.foundation);
  });

  it('fails with the variable named when the project is missing or wrong', () => {
    expect(() => loadInfraConfig({})).toThrow(ConfigError);
    expect(() => loadInfraConfig({})).toThrow(/DEPLOY_PROJECT is required/);
    expect(() => loadInfraConfig({ DEPLOY_PROJECT: 'Bad_Project' })).toThrow(/DEPLOY_PROJECT is not a valid project id/);
    expect(() => loadInfraConfig({ DEPLOY_PROJECT: PROJECT, DEPLOY_ENV: 'staging' })).toThrow(/DEPLOY_ENV must be one of dev, prod/);
  });

  it('synthesizes HCL for plain Terraform (the exit path from CDKTF)', () => {
    const hcl = Testing.synthHcl(prod.stacks.services) as string;
    expect(hcl).toContain('resource "google_cloud_run_v2_service"');
    expect(hcl).toContain('backend "gcs"');
  });

  it('matches the reviewed snapshot of the synthesized stacks', () => {
    // View SQL belongs to sql/views and is checked above; the snapshot guards the infrastructure around it.
    const foundation = JSON.parse(prod.foundation.json);
    for (const [, t] of Object.entries<Resource>(foundation.resource.google_bigquery_table)) {
      if (!t.view) continue;
      t.view.query = `<sql/views/${t.table_id}.sql>`;
      t.description = '<its leading comment>';
    }
    expect(foundation).toMatchSnapshot('foundation (prod)');
    expect(JSON.parse(prod.services.json)).toMatchSnapshot('services (prod)');
  });
});

const serviceIn = (s: typeof prod, name: string) => s.services.byType('google_cloud_run_v2_service').find((x) => x.name === name)!;
const envIn = (s: typeof prod, name: string): Record<string, any> =>
  Object.fromEntries(serviceIn(s, name).template.containers[0].env.map((e: Resource) => [e.name, e.value ?? e.value_source]));

describe('infra: the subscriber lease', () => {
  it('keeps the lease in a regional bucket of its own: uniform access, never public, no versions or soft-deleted copies', () => {
    const [bucket] = prod.foundation.byType('google_storage_bucket').filter((b) => b.labels?.component === 'lease');
    expect(bucket).toMatchObject({
      name: `${PROJECT}-tote-lease`,
      location: 'europe-west2',
      uniform_bucket_level_access: true,
      public_access_prevention: 'enforced',
      versioning: { enabled: false },
      soft_delete_policy: { retention_duration_seconds: 0 },
    });
    expect(bucket!.lifecycle_rule).toBeUndefined();
    const devBucket = synthesize({ DEPLOY_ENV: 'dev', DEPLOY_PROJECT: 'tote-dev-project' }).foundation.byType('google_storage_bucket');
    expect(devBucket.map((b) => b.name)).toContain('tote-dev-project-tote-lease');
  });

  it('lets the subscriber alone read and write objects in that bucket, granted on the bucket', () => {
    const g = grants(prod);
    const onBuckets = g.filter((x) => x.type.startsWith('google_storage_bucket_iam'));
    const leaseRef = '${google_storage_bucket.lease_bucket_';
    const onLease = onBuckets.filter((x) => String(x.bucket).startsWith(leaseRef));
    expect(onLease.map((x) => [x.role, x.member])).toEqual([['roles/storage.objectUser', member(NAMES.accounts.subscriber)]]);
    // No storage role above a bucket for anyone.
    expect(g.filter((x) => x.type === 'google_project_iam_member' && String(x.role).startsWith('roles/storage.'))).toEqual([]);
  });

  it('points the subscriber, and only the subscriber, at gs://<bucket>/subscriber.lease', () => {
    expect(envIn(prod, NAMES.subscriberService).SUBSCRIBER_LEASE).toBe(`gs://${PROJECT}-tote-lease/${LEASE_OBJECT}`);
    expect(envIn(prod, NAMES.sseService).SUBSCRIBER_LEASE).toBeUndefined();
  });
});

describe('infra: the image each service runs', () => {
  it('runs DEPLOY_IMAGE on both services when it is given, reading nothing from Cloud Run', () => {
    for (const name of [NAMES.subscriberService, NAMES.sseService]) expect(serviceIn(prod, name).template.containers[0].image).toBe(IMAGE);
    expect(JSON.parse(prod.services.json).data?.google_cloud_run_v2_service).toBeUndefined();
  });

  it('keeps the image each service runs when DEPLOY_IMAGE is unset, and never falls back on :latest', () => {
    const config = loadInfraConfig({ DEPLOY_PROJECT: PROJECT, DEPLOY_ENV: 'prod' });
    expect(config.image).toBeNull();
    const doc = JSON.parse(Testing.synth(defineStacks(Testing.app(), config).services));
    const reads = Object.entries<Resource>(doc.data.google_cloud_run_v2_service);
    expect(reads.map(([, d]) => d.name).sort()).toEqual([NAMES.sseService, NAMES.subscriberService].sort());
    for (const [id, d] of reads) {
      const service = Object.values<Resource>(doc.resource.google_cloud_run_v2_service).find((s) => s.name === d.name)!;
      expect(service.template.containers[0].image).toBe(`\${data.google_cloud_run_v2_service.${id}.template[0].containers[0].image}`);
    }
    expect(JSON.stringify(doc)).not.toContain(':latest');
  });

  it('refuses an image without a tag or digest, naming the variable', () => {
    expect(() => loadInfraConfig({ DEPLOY_PROJECT: PROJECT, DEPLOY_IMAGE: 'europe-west2-docker.pkg.dev/p/tote/tote-pipeline' })).toThrow(
      /DEPLOY_IMAGE must be an image with a tag or digest/,
    );
    expect(
      loadInfraConfig({
        DEPLOY_PROJECT: PROJECT,
        DEPLOY_IMAGE: `europe-west2-docker.pkg.dev/p/tote/tote-pipeline@sha256:${'a'.repeat(64)}`,
      }).image,
    ).toContain('@sha256:');
  });
});

describe('infra: a redeploy after a teardown', () => {
  it('suffixes every custom role id with the deployment generation, and every grant follows it', () => {
    const base = prod.foundation
      .byType('google_project_iam_custom_role')
      .map((r) => r.role_id)
      .sort();
    expect(base).toEqual(Object.values(NAMES.roles).sort());
    const again = synthesize({ DEPLOY_ENV: 'prod', DEPLOY_ROLE_GENERATION: '2' });
    expect(
      again.foundation
        .byType('google_project_iam_custom_role')
        .map((r) => r.role_id)
        .sort(),
    ).toEqual(base.map((id) => `${id}_2`));
    const roles = grants(again)
      .map((x) => x.role)
      .filter((r) => r.includes('/roles/'));
    expect(roles.length).toBeGreaterThan(0);
    for (const r of roles) expect(r).toMatch(/_2$/);
    expect(() => loadInfraConfig({ DEPLOY_PROJECT: PROJECT, DEPLOY_ROLE_GENERATION: 'x' })).toThrow(/DEPLOY_ROLE_GENERATION/);
  });
});

describe('infra: who may read the SSE stream (DEPLOY_SSE_ACCESS)', () => {
  const invokers = (s: typeof prod) =>
    s.services
      .byType('google_cloud_run_v2_service_iam_member')
      .filter((x) => String(x.name).startsWith('${google_cloud_run_v2_service.sse_service'));

  it('is public by default: anyone may invoke it and the service checks no token', () => {
    expect(prod.config.sseAccess).toBe('public');
    expect(invokers(prod).map((x) => x.member)).toEqual(['allUsers']);
    expect(serviceIn(prod, NAMES.sseService).ingress).toBe('INGRESS_TRAFFIC_ALL');
    expect(Object.keys(envIn(prod, NAMES.sseService)).filter((k) => k.startsWith('SSE_ACCESS'))).toEqual(['SSE_ACCESS']);
    expect(envIn(prod, NAMES.sseService).SSE_ACCESS).toBe('public');
  });

  it('in token mode checks HS256 tokens with a key from Secret Manager that only the SSE account may read', () => {
    const t = synthesize({
      DEPLOY_ENV: 'prod',
      DEPLOY_SSE_ACCESS: 'token',
      DEPLOY_SSE_TOKEN_ISSUER: 'https://login.example.com',
      DEPLOY_SSE_TOKEN_AUDIENCE: 'tote-dashboards',
    });
    expect(invokers(t).map((x) => x.member)).toEqual(['allUsers']);
    const env = envIn(t, NAMES.sseService);
    expect(env).toMatchObject({
      SSE_ACCESS: 'token',
      SSE_ACCESS_ISSUER: 'https://login.example.com',
      SSE_ACCESS_AUDIENCE: 'tote-dashboards',
    });
    expect(env.SSE_ACCESS_JWT_SECRET).toEqual({ secret_key_ref: { secret: SSE_JWT_SECRET_ID, version: 'latest' } });
    const secrets = t.foundation.byType('google_secret_manager_secret').map((x) => x.secret_id);
    expect(secrets).toContain(SSE_JWT_SECRET_ID);
    const key = t.foundation.resources.find((r) => r.type === 'google_secret_manager_secret' && r.body.secret_id === SSE_JWT_SECRET_ID)!;
    const onKey = grants(t).filter((x) => x.secret_id === `\${google_secret_manager_secret.${key.id}.id}`);
    expect(onKey.map((x) => [x.role, x.member])).toEqual([['roles/secretmanager.secretAccessor', member(NAMES.accounts.sse)]]);
    // The SSE account still reads no Tote secret.
    const sseOnSecrets = grants(t).filter(
      (x) => x.type.startsWith('google_secret_manager_secret_iam') && x.member === member(NAMES.accounts.sse),
    );
    expect(sseOnSecrets).toHaveLength(1);
  });

  it('in token mode with a JWKS URL checks RS256/ES256 tokens against it and keeps no key', () => {
    const t = synthesize({
      DEPLOY_ENV: 'prod',
      DEPLOY_SSE_ACCESS: 'token',
      DEPLOY_SSE_JWKS_URL: 'https://login.example.com/.well-known/jwks.json',
    });
    const env = envIn(t, NAMES.sseService);
    expect(env).toMatchObject({ SSE_ACCESS: 'token', SSE_ACCESS_JWKS_URL: 'https://login.example.com/.well-known/jwks.json' });
    expect(env.SSE_ACCESS_JWT_SECRET).toBeUndefined();
    expect(t.foundation.byType('google_secret_manager_secret').map((x) => x.secret_id)).not.toContain(SSE_JWT_SECRET_ID);
  });

  it('behind IAP takes no direct traffic and lets only the IAP service agent invoke it', () => {
    const audience = '/projects/123456789012/global/backendServices/987654321';
    const t = synthesize({ DEPLOY_ENV: 'prod', DEPLOY_SSE_ACCESS: 'iap', DEPLOY_SSE_IAP_AUDIENCE: audience });
    expect(serviceIn(t, NAMES.sseService).ingress).toBe('INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER');
    // The service checks IAP's assertion for this backend, so a request that got round the proxy is refused.
    expect(envIn(t, NAMES.sseService)).toMatchObject({ SSE_ACCESS: 'iap', SSE_ACCESS_AUDIENCE: audience });
    const members = invokers(t).map((x) => x.member);
    expect(members).toHaveLength(1);
    expect(members[0]).toMatch(/^serviceAccount:service-\$\{data\.google_project\.[\w]+\.number\}@gcp-sa-iap\.iam\.gserviceaccount\.com$/);
    expect(grants(t).filter((x) => x.member === 'allUsers' || x.member === 'allAuthenticatedUsers')).toEqual([]);
  });

  it('refuses an unknown mode, or a JWKS URL outside token mode, naming the variable', () => {
    expect(() => loadInfraConfig({ DEPLOY_PROJECT: PROJECT, DEPLOY_SSE_ACCESS: 'open' })).toThrow(/DEPLOY_SSE_ACCESS/);
    expect(() => loadInfraConfig({ DEPLOY_PROJECT: PROJECT, DEPLOY_SSE_JWKS_URL: 'https://x.example/jwks' })).toThrow(
      /only used with DEPLOY_SSE_ACCESS=token/,
    );
    expect(() => loadInfraConfig({ DEPLOY_PROJECT: PROJECT, DEPLOY_SSE_ACCESS: 'iap' })).toThrow(
      /DEPLOY_SSE_ACCESS=iap needs DEPLOY_SSE_IAP_AUDIENCE/,
    );
    expect(() => loadInfraConfig({ DEPLOY_PROJECT: PROJECT, DEPLOY_SSE_ACCESS: 'iap', DEPLOY_SSE_IAP_AUDIENCE: 'my-backend' })).toThrow(
      /must look like/,
    );
  });
});
