-- Product status (ProductStatusChanged): OPEN, CLOSED (the off), settled...
-- Status casing varies in Tote's documents: compare with UPPER().
-- Readable names (venue, race time and name, bet type, runner) from the day card sit beside the ids; NULL until a card names them.
SELECT
  m.envelope_id,
  m.received_at,
  m.product_id,
  n.bet_type,
  n.venue,
  n.race_time,
  n.event_name,
  JSON_VALUE(m.payload, '$.status') AS status,
  m.source
FROM v_messages AS m
LEFT JOIN v_product_names AS n ON n.product_id = m.product_id
WHERE m.message_type = 'ProductStatusChanged'
