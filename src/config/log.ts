import type { Severity } from '../log/logger.js';
import type { EnvReader } from './env.js';

export interface LogConfig {
  level: Severity;
}

export function readLogConfig(r: EnvReader): LogConfig {
  // INFO: lifecycle, reconnects, dead letters and the minute stats lines; DEBUG adds detail.
  return { level: r.oneOf<Severity>('LOG_LEVEL', 'INFO', ['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL']) };
}
