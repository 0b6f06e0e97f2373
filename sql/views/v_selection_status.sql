-- Selection status (SelectionStatusChanged): a runner's availability in a product leg.
-- Readable names (venue, race time and name, bet type, runner) from the day card sit beside the ids; NULL until a card names them.
SELECT
  m.envelope_id,
  m.received_at,
  m.product_id,
  p.bet_type,
  p.venue,
  p.race_time,
  m.leg_id,
  m.selection_id,
  s.runner_number,
  s.runner_name,
  JSON_VALUE(m.payload, '$.status') AS status,
  m.source
FROM v_messages AS m
LEFT JOIN v_product_names AS p ON p.product_id = m.product_id
LEFT JOIN v_selection_names AS s ON s.product_id = m.product_id AND s.selection_id = m.selection_id
WHERE m.message_type = 'SelectionStatusChanged'
