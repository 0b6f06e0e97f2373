/**
 * The spill topic and its replay subscription. Rows land here when BigQuery
 * keeps failing; `npm run replay-history` drains the subscription. The CDKTF
 * stack creates both from these names.
 */
export const HISTORY_SPILL_TOPIC = 'tote-history-spill';
export const HISTORY_SPILL_SUBSCRIPTION = 'tote-history-spill-replay';
