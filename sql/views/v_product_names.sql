-- Products (pools) by id: bet type and name, and the race of the first leg
-- (venue, race time, race name; a multi-leg product such as a Placepot is
-- named by its first race), from the latest day card that named them.
WITH legs AS (
  SELECT product_id, event_id, product_name, bet_type, product_status, received_at
  FROM tote_names
  WHERE kind = 'product' AND leg_number = 1
  QUALIFY ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY received_at DESC) = 1
)
SELECT
  l.product_id,
  l.bet_type,
  l.product_name,
  l.product_status,
  l.event_id,
  e.venue,
  e.race_time,
  e.event_name,
  e.scheduled_start,
  l.received_at AS named_at
FROM legs AS l
LEFT JOIN v_event_names AS e ON e.event_id = l.event_id
