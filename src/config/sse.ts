import type { EnvReader } from './env.js';

export interface SseConfig {
  port: number;
}

export function readSseConfig(r: EnvReader): SseConfig {
  return {
    // Cloud Run's contract: listen on PORT (8080 by default).
    port: r.int('PORT', 8080, 0, 65535),
  };
}
