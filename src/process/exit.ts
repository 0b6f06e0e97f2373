import { ConfigError } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import { StartupError } from './startup-error.js';

/**
 * Ends a process whose start failed, saying why once. Settings the operator
 * can fix (ConfigError, StartupError) get their message alone and exit code 2;
 * anything else is a defect and keeps its stack, with exit code 1.
 * `plain` writes for a terminal (npm start); otherwise one JSON log line.
 */
export function exitOnStartFailure(err: unknown, o: { what: string; log: Logger; plain?: boolean }): never {
  const fixable = err instanceof ConfigError || err instanceof StartupError;
  const message = err instanceof Error ? err.message : String(err);
  if (o.plain) {
    process.stderr.write(`${o.what} cannot start: ${message}\n${fixable ? '' : `${(err as Error)?.stack ?? ''}\n`}`);
  } else {
    o.log.error(`${o.what} cannot start: ${message}`, fixable ? {} : { err });
  }
  process.exit(fixable ? 2 : 1);
}
