-- Runners by competitor id: cloth or trap number and name, with their race,
-- from the latest day card that named them (tote_names, kind = 'runner').
SELECT
  competitor_id,
  event_id,
  runner_number,
  runner_name,
  received_at AS named_at
FROM tote_names
WHERE kind = 'runner'
QUALIFY ROW_NUMBER() OVER (PARTITION BY competitor_id ORDER BY received_at DESC) = 1
