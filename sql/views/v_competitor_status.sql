-- Competitor status (CompetitorStatusChanged): e.g. a runner WITHDRAWN as a non-runner.
-- Readable names (venue, race time and name, bet type, runner) from the day card sit beside the ids; NULL until a card names them.
SELECT
  m.envelope_id,
  m.received_at,
  m.event_id,
  e.venue,
  e.race_time,
  m.competitor_id,
  r.runner_number,
  r.runner_name,
  JSON_VALUE(m.payload, '$.status') AS status,
  m.source
FROM v_messages AS m
LEFT JOIN v_event_names AS e ON e.event_id = m.event_id
LEFT JOIN v_runner_names AS r ON r.competitor_id = m.competitor_id
WHERE m.message_type = 'CompetitorStatusChanged'
