-- Event results (EventResultChanged): one row per competitor per result
-- message; PROVISIONAL results are followed by FINAL ones.
-- DuckDB text of v_event_results.sql: DuckDB names an unnested value with AS alias(column).
SELECT
  m.envelope_id,
  m.received_at,
  m.event_id,
  JSON_VALUE(r, '$.competitorId') AS competitor_id,
  JSON_VALUE(r, '$.finishingPosition') AS finishing_position,
  JSON_VALUE(r, '$.status') AS result_status,
  m.source
FROM v_messages AS m
CROSS JOIN UNNEST(JSON_QUERY_ARRAY(m.payload, '$.competitorResults')) AS u(r)
WHERE m.message_type = 'EventResultChanged'
