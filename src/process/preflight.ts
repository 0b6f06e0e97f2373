import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Config } from '../config/index.js';
import { StartupError } from './startup-error.js';

/** How long an emulator or credential check may take before start-up gives up with a clear line. */
const CHECK_TIMEOUT_MS = 3_000;

/**
 * Checks made before anything starts, so a wrong setting fails in a second
 * with one line naming it, instead of a hang, a raw ENOENT or a page of stack
 * traces from a client library deep inside the first request.
 */
export async function preflight(config: Config, parts: { bus: boolean; history: boolean }): Promise<void> {
  if (parts.history && config.history.kind === 'duckdb') checkWritableFolder(config.history.duckdbPath, 'DUCKDB_PATH');
  const cloud: string[] = [];
  if (parts.bus && config.bus.kind === 'pubsub') {
    if (config.bus.emulatorHost) await checkReachable(config.bus.emulatorHost, 'PUBSUB_EMULATOR_HOST', 'the Pub/Sub emulator');
    else cloud.push('BUS=pubsub');
  }
  // A loopback BQ_API_ENDPOINT is a local stand-in: it asks for no Google credentials.
  if (parts.history && config.history.kind === 'bigquery' && !isLoopbackUrl(config.history.bigquery.apiEndpoint))
    cloud.push('HISTORY=bigquery');
  if (cloud.length) await checkCredentials(cloud.join(' and '));
}

/** The database file's folder must exist (or be creatable) and be writable. */
export function checkWritableFolder(file: string, variable: string): void {
  const folder = dirname(resolve(file));
  if (!existsSync(folder)) {
    try {
      mkdirSync(folder, { recursive: true });
    } catch (err) {
      throw new StartupError(
        `${variable}=${file}: its folder ${folder} does not exist and cannot be created (${(err as NodeJS.ErrnoException).code}); point ${variable} at a writable folder`,
      );
    }
  }
  if (!statSync(folder).isDirectory()) throw new StartupError(`${variable}=${file}: ${folder} is not a folder`);
  try {
    accessSync(folder, constants.W_OK);
    if (existsSync(file)) accessSync(file, constants.R_OK | constants.W_OK);
  } catch {
    throw new StartupError(
      `${variable}=${file}: ${existsSync(file) ? 'the file' : `the folder ${folder}`} is not writable (read-only file system or permissions); point ${variable} at a writable folder`,
    );
  }
}

export function checkReachable(hostPort: string, variable: string, what: string): Promise<void> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hostPort.replace(/^https?:\/\//, ''));
  if (!m) return Promise.reject(new StartupError(`${variable}=${hostPort} is not host:port`));
  const [, host, port] = m;
  return new Promise((resolveP, reject) => {
    const socket = connect({ host: host!, port: Number(port) });
    const fail = (why: string) => {
      socket.destroy();
      reject(
        new StartupError(
          `${variable}=${hostPort}: ${what} does not answer (${why}); start it (gcloud beta emulators pubsub start --host-port=${hostPort}) or fix ${variable}`,
        ),
      );
    };
    socket.setTimeout(CHECK_TIMEOUT_MS, () => fail(`no answer in ${CHECK_TIMEOUT_MS / 1000} s`));
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
    socket.once('connect', () => {
      socket.end();
      resolveP();
    });
  });
}

/**
 * Application Default Credentials must resolve: without them every Google
 * client retries and logs its own stack trace before the real error shows.
 */
export async function checkCredentials(needs: string): Promise<void> {
  const { GoogleAuth } = await import('google-auth-library');
  const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      auth.getClient(),
      new Promise(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS)),
      ),
    ]);
  } catch (err) {
    throw new StartupError(
      `${needs} needs Google Cloud credentials and none were found (${firstLine(err)}): run \`gcloud auth application-default login\`, set GOOGLE_APPLICATION_CREDENTIALS, or use PUBSUB_EMULATOR_HOST / the local defaults`,
    );
  } finally {
    clearTimeout(timer);
  }
}

function isLoopbackUrl(url: string | undefined): boolean {
  if (!url) return false;
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err)
    .split('\n')[0]!
    .slice(0, 160);
}
