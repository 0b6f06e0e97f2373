-- Event results (EventResultChanged): one row per competitor per result
-- message; PROVISIONAL results are followed by FINAL ones.
-- DuckDB text of v_event_results.sql: DuckDB names an unnested value with AS alias(column).
SELECT
  m.envelope_id,
  m.received_at,
  m.event_id,
  e.venue,
  e.race_time,
  e.event_name,
  JSON_VALUE(r, '$.competitorId') AS competitor_id,
  n.runner_number,
  n.runner_name,
  JSON_VALUE(r, '$.finishingPosition') AS finishing_position,
  JSON_VALUE(r, '$.status') AS result_status,
  m.source
FROM v_messages AS m
CROSS JOIN UNNEST(JSON_QUERY_ARRAY(m.payload, '$.competitorResults')) AS u(r)
LEFT JOIN v_event_names AS e ON e.event_id = m.event_id
LEFT JOIN v_runner_names AS n ON n.competitor_id = JSON_VALUE(r, '$.competitorId')
WHERE m.message_type = 'EventResultChanged'
