import { createServer } from 'node:net';

/** A free TCP port on loopback, found by binding port 0 and releasing it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check` until it returns truthy or `timeoutMs` passes; never a bare sleep.
 * The default is generous because it only bounds how long a failure takes to show:
 * a condition that holds returns at once, and on a loaded 2-core machine a healthy
 * one can take many times what it takes on an idle one.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  {
    timeoutMs = 30_000,
    intervalMs = 25,
    what = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; what?: string | (() => string) } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const label = typeof what === 'function' ? what() : what;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${label}` +
          (lastErr ? `: ${lastErr instanceof Error ? String(lastErr) : JSON.stringify(lastErr)}` : ''),
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
