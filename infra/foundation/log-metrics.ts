import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { LoggingMetric } from '@cdktf/provider-google/lib/logging-metric/index.js';
import { METRICS, logFilter, type LogMetricSpec } from '../metrics.js';

/**
 * The log-based metrics of metrics.ts. They live in the foundation stack so
 * they exist (and have started counting) before the alert policies of the
 * services stack refer to them.
 */
export class LogMetrics extends Construct {
  constructor(scope: Construct, id: string, dependsOn: ITerraformDependable[]) {
    super(scope, id);
    for (const spec of Object.values(METRICS) as LogMetricSpec[]) {
      const labels = Object.entries(spec.labels ?? {});
      new LoggingMetric(this, spec.name, {
        name: spec.name,
        description: spec.description,
        filter: logFilter(spec),
        metricDescriptor: {
          metricKind: 'DELTA',
          valueType: spec.value ? 'DISTRIBUTION' : 'INT64',
          unit: spec.unit ?? '1',
          labels: labels.map(([key]) => ({ key, valueType: 'STRING' })),
        },
        labelExtractors: labels.length ? Object.fromEntries(labels.map(([key, field]) => [key, `EXTRACT(${field})`])) : undefined,
        ...(spec.value
          ? {
              valueExtractor: `EXTRACT(${spec.value})`,
              // 1, 2, 4 ... 2^31: counts, backlogs and milliseconds alike, at a factor-of-two resolution.
              bucketOptions: { exponentialBuckets: { numFiniteBuckets: 32, growthFactor: 2, scale: 1 } },
            }
          : {}),
        dependsOn,
      });
    }
  }
}
