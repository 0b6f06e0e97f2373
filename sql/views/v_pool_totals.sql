-- Pool totals (PoolTotalChanged): one row per update, amounts as numbers.
-- Tote sends lists of money; the first entry is the pool's own currency.
SELECT
  envelope_id,
  received_at,
  product_id,
  LAX_BOOL(JSON_QUERY(payload, '$.isFinalized')) AS is_finalized,
  LAX_FLOAT64(JSON_QUERY(payload, '$.total.grossAmounts[0].decimalAmount')) AS gross_amount,
  LAX_FLOAT64(JSON_QUERY(payload, '$.total.netAmounts[0].decimalAmount')) AS net_amount,
  JSON_VALUE(payload, '$.total.grossAmounts[0].currency.code') AS currency,
  source
FROM v_messages
WHERE message_type = 'PoolTotalChanged'
