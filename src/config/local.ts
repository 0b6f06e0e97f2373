import type { EnvReader } from './env.js';

export interface LocalConfig {
  /** Bind address of the services `npm start` runs in one process. */
  host: string;
}

export function readLocalConfig(r: EnvReader): LocalConfig {
  return {
    // A developer machine: the control API (POST /stop) and the dashboard stay
    // on loopback unless asked; 0.0.0.0 shares them on the network.
    host: r.str('LOCAL_HOST', '127.0.0.1'),
  };
}
