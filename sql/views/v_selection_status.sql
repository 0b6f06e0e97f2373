-- Selection status (SelectionStatusChanged): a runner's availability in a product leg.
SELECT
  envelope_id,
  received_at,
  product_id,
  leg_id,
  selection_id,
  JSON_VALUE(payload, '$.status') AS status,
  source
FROM v_messages
WHERE message_type = 'SelectionStatusChanged'
