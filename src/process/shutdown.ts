import type { Logger } from '../log/logger.js';

/**
 * On SIGTERM (Cloud Run scale-down or deploy) or SIGINT: run `close` once and
 * exit. If it has not finished within `graceMs`, exit anyway, before Cloud
 * Run's SIGKILL, with what was flushed by then.
 */
export function onShutdown(graceMs: number, log: Logger, close: () => Promise<void>): void {
  let closing = false;
  const handler = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    log.info('shutting down', { signal, graceMs });
    const timer = setTimeout(() => {
      log.error('shutdown grace exceeded; exiting with work pending', { graceMs });
      process.exit(1);
    }, graceMs);
    timer.unref();
    close().then(
      () => {
        log.info('shut down cleanly');
        process.exit(0);
      },
      (err: Error) => {
        log.error('shutdown failed', { error: err.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
