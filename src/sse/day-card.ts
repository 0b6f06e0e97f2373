import type { DayCardFetcher } from './names.js';

/** The query-API client, loaded when first needed so the service starts without it when names are off. */
export const fetchDayCard: DayCardFetcher = async (url, apiKey) => {
  const specifier = '../tote/gateway.js';
  const mod = (await import(specifier)) as { fetchDayCard: DayCardFetcher };
  return mod.fetchDayCard(url, apiKey);
};
