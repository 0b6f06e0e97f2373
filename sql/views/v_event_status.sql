-- Event status (EventStatusChanged): SCHEDULED, DELAYED, STARTED, FINISHED...
-- EventUpdated (details changed, no status) is listed too, with a NULL status.
-- Readable names (venue, race time and name, bet type, runner) from the day card sit beside the ids; NULL until a card names them.
SELECT
  m.envelope_id,
  m.received_at,
  m.event_id,
  n.venue,
  n.race_time,
  n.event_name,
  m.message_type,
  JSON_VALUE(m.payload, '$.status') AS status,
  m.source
FROM v_messages AS m
LEFT JOIN v_event_names AS n ON n.event_id = m.event_id
WHERE m.message_type IN ('EventStatusChanged', 'EventUpdated')
