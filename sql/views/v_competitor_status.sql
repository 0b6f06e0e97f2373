-- Competitor status (CompetitorStatusChanged): e.g. a runner WITHDRAWN as a non-runner.
SELECT
  envelope_id,
  received_at,
  event_id,
  competitor_id,
  JSON_VALUE(payload, '$.status') AS status,
  source
FROM v_messages
WHERE message_type = 'CompetitorStatusChanged'
