import type { EnvReader } from './env.js';

export interface HistoryConfig {
  /** duckdb: embedded file (local); bigquery: streaming inserts; none: history off. */
  kind: 'duckdb' | 'bigquery' | 'none';
  duckdbPath: string;
}

export function readHistoryConfig(r: EnvReader): HistoryConfig {
  return {
    kind: r.oneOf<'duckdb' | 'bigquery' | 'none'>('HISTORY', 'duckdb', ['duckdb', 'bigquery', 'none']),
    // Beside the checkout, ignored by git; analysts query it with `npm run sql`.
    duckdbPath: r.str('DUCKDB_PATH', './data/tote.duckdb'),
  };
}
