-- Event status (EventStatusChanged): SCHEDULED, DELAYED, STARTED, FINISHED...
-- EventUpdated (details changed, no status) is listed too, with a NULL status.
SELECT
  envelope_id,
  received_at,
  event_id,
  message_type,
  JSON_VALUE(payload, '$.status') AS status,
  source
FROM v_messages
WHERE message_type IN ('EventStatusChanged', 'EventUpdated')
