/**
 * What differs between environments, and nothing else. Every environment is
 * the same stack code; an environment is a project (one per environment, as
 * topic names are fixed by the catalog) plus these settings.
 */
export type EnvironmentName = 'dev' | 'prod';
export const ENVIRONMENT_NAMES: readonly EnvironmentName[] = ['dev', 'prod'];

export interface EnvironmentSettings {
  /** Terraform refuses to delete Cloud Run services and BigQuery tables while true. */
  deletionProtection: boolean;
  subscriber: {
    cpu: string;
    memory: string;
    logLevel: string;
  };
  sse: {
    cpu: string;
    memory: string;
    minInstances: number;
    maxInstances: number;
    /** Concurrent requests per instance; each open stream holds one. */
    concurrency: number;
    logLevel: string;
  };
  history: {
    /** Partitions older than this are dropped by BigQuery; null keeps everything. */
    partitionExpirationDays: number | null;
  };
  pubsub: {
    /**
     * Retention on the feed and day-card topics is the daily window plus this margin: a fresh SSE
     * instance seeks its new subscriptions back to the window's start (or as far as retention
     * allows), so it starts with the day's state even late in the evening.
     */
    seekBackMarginMinutes: number;
    /** Dead letters and spilled history rows wait this long for someone to look. */
    parkedRetention: string;
  };
  schedule: {
    /** The subscriber instance is started this long before the window opens, so /start finds it warm. */
    scaleUpLeadMinutes: number;
    /** The instance is removed this long after /stop, leaving /stop time to flush. */
    scaleDownLagMinutes: number;
    /** Cloud Scheduler allows 0-5. */
    retryCount: number;
  };
  alerts: {
    /** No Tote message for this long inside the window raises the silence alert. */
    silenceMinutes: number;
    /** More reconnects than this in 10 minutes is a storm. */
    reconnectsPer10Min: number;
    /** More dead letters than this in 15 minutes. */
    deadLettersPer15Min: number;
    /** More 5xx responses than this in 5 minutes, per service. */
    http5xxPer5Min: number;
    /** History rows waiting in memory for BigQuery, held for 10 minutes. */
    historyBacklogRows: number;
  };
}

const PROD: EnvironmentSettings = {
  deletionProtection: true,
  subscriber: {
    // The original design's size: JSON parsing and two downstreams on a busy afternoon.
    cpu: '2',
    memory: '1Gi',
    logLevel: 'INFO',
  },
  sse: {
    // Instance-based billing needs at least 1 vCPU and 512 MiB.
    cpu: '1',
    memory: '512Mi',
    // Nobody watching costs nothing; the first browser waits for a cold start.
    minInstances: 0,
    // 10 x 1,000 streams is far beyond the audience of an operations dashboard; caps a runaway bill.
    maxInstances: 10,
    // Cloud Run's per-instance maximum; each stream is one request for up to an hour.
    concurrency: 1000,
    logLevel: 'INFO',
  },
  history: { partitionExpirationDays: null },
  pubsub: {
    // 06:00-23:00 plus an hour: 18 h, enough for a seek back to 06:00 from the last minute of the window.
    seekBackMarginMinutes: 60,
    parkedRetention: '604800s',
  },
  schedule: {
    scaleUpLeadMinutes: 5,
    scaleDownLagMinutes: 5,
    retryCount: 5,
  },
  alerts: {
    silenceMinutes: 15,
    reconnectsPer10Min: 5,
    deadLettersPer15Min: 20,
    http5xxPer5Min: 5,
    historyBacklogRows: 5000,
  },
};

const DEV: EnvironmentSettings = {
  ...PROD,
  deletionProtection: false,
  subscriber: { ...PROD.subscriber, logLevel: 'DEBUG' },
  sse: { ...PROD.sse, maxInstances: 2 },
  // A month of history is enough to develop against and keeps storage near zero.
  history: { partitionExpirationDays: 30 },
};

export const ENVIRONMENTS: Readonly<Record<EnvironmentName, EnvironmentSettings>> = { dev: DEV, prod: PROD };
