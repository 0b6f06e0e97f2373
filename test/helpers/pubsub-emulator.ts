import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort, waitFor } from './ports.js';

export interface RunningEmulator {
  host: string;
  stop(): Promise<void>;
}

export function gcloudAvailable(): string | null {
  const g = spawnSync('gcloud', ['--version'], { encoding: 'utf8' });
  if (g.error || g.status !== 0) return 'gcloud is not installed';
  const j = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (j.error || j.status !== 0) return 'java is not installed (the Pub/Sub emulator needs it)';
  return null;
}

/**
 * Starts `gcloud beta emulators pubsub start` on a free loopback port in its
 * own process group. gcloud starts a java child; stopping only the wrapper
 * would leave java holding the port, so stop() kills the whole group.
 */
export async function startPubsubEmulator(project = 'local-tote'): Promise<RunningEmulator> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    'gcloud',
    ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, `--project=${project}`, '--quiet'],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (child.pid && !exited) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      await waitFor(() => exited, { timeoutMs: 10_000, what: 'emulator exit' }).catch(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* already gone */
        }
      });
    }
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error('emulator exited: ' + output);
        const res = await fetch(`http://${host}/`).catch(() => null);
        return res?.ok;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'Pub/Sub emulator to answer' },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, stop };
}
