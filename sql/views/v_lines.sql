-- Lines (LinesChanged): the odds lines of a product changed. The subscription
-- carries only the product; the lines themselves stay as JSON.
SELECT
  envelope_id,
  received_at,
  product_id,
  payload AS lines,
  source
FROM v_messages
WHERE message_type = 'LinesChanged'
