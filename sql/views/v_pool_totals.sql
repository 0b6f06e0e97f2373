-- Pool totals (PoolTotalChanged): one row per update, amounts as numbers.
-- Tote sends lists of money; the first entry is the pool's own currency.
-- Names (bet type, venue, race time and name) from the day card; NULL until a card names the product.
SELECT
  m.envelope_id,
  m.received_at,
  m.product_id,
  n.bet_type,
  n.venue,
  n.race_time,
  n.event_name,
  LAX_BOOL(JSON_QUERY(m.payload, '$.isFinalized')) AS is_finalized,
  LAX_FLOAT64(JSON_QUERY(m.payload, '$.total.grossAmounts[0].decimalAmount')) AS gross_amount,
  LAX_FLOAT64(JSON_QUERY(m.payload, '$.total.netAmounts[0].decimalAmount')) AS net_amount,
  JSON_VALUE(m.payload, '$.total.grossAmounts[0].currency.code') AS currency,
  m.source
FROM v_messages AS m
LEFT JOIN v_product_names AS n ON n.product_id = m.product_id
WHERE m.message_type = 'PoolTotalChanged'
