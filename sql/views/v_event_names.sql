-- Events (races) by id with readable names: venue, race name, scheduled
-- start and the race time in Europe/London, from the latest day card that
-- named the event (tote_names, kind = 'event').
SELECT
  event_id,
  venue,
  event_name,
  scheduled_start,
  FORMAT_TIMESTAMP('%H:%M', scheduled_start, 'Europe/London') AS race_time,
  event_status,
  received_at AS named_at
FROM tote_names
WHERE kind = 'event'
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY received_at DESC) = 1
