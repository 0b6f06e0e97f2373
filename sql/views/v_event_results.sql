-- Event results (EventResultChanged): one row per competitor per result
-- message; PROVISIONAL results are followed by FINAL ones.
-- BigQuery text; v_event_results.duckdb.sql beside it differs only in the UNNEST alias.
SELECT
  m.envelope_id,
  m.received_at,
  m.event_id,
  JSON_VALUE(r, '$.competitorId') AS competitor_id,
  JSON_VALUE(r, '$.finishingPosition') AS finishing_position,
  JSON_VALUE(r, '$.status') AS result_status,
  m.source
FROM v_messages AS m
CROSS JOIN UNNEST(JSON_QUERY_ARRAY(m.payload, '$.competitorResults')) AS r
WHERE m.message_type = 'EventResultChanged'
