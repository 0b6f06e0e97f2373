-- Dividends (PoolDividendChanged): one row per declared dividend per message;
-- PROVISIONAL dividends are followed by FINAL ones. Amounts may come as a list
-- of money or as one money object: both are read.
-- BigQuery text; v_dividends.duckdb.sql beside it differs only in the UNNEST alias.
-- Readable names (venue, race time and name, bet type, runner) from the day card sit beside the ids; NULL until a card names them.
SELECT
  m.envelope_id,
  m.received_at,
  m.product_id,
  p.bet_type,
  p.venue,
  p.race_time,
  p.event_name,
  JSON_VALUE(d, '$.dividend.name') AS dividend_name,
  JSON_VALUE(d, '$.dividend.type') AS dividend_type,
  JSON_VALUE(d, '$.dividend.status') AS dividend_status,
  COALESCE(
    LAX_FLOAT64(JSON_QUERY(d, '$.dividend.amounts[0].decimalAmount')),
    LAX_FLOAT64(JSON_QUERY(d, '$.dividend.amounts.decimalAmount'))
  ) AS amount,
  COALESCE(
    JSON_VALUE(d, '$.dividend.amounts[0].currency.code'),
    JSON_VALUE(d, '$.dividend.amounts.currency.code')
  ) AS currency,
  JSON_QUERY(d, '$.legs') AS legs,
  m.source
FROM v_messages AS m
CROSS JOIN UNNEST(JSON_QUERY_ARRAY(m.payload, '$.dividends')) AS d
LEFT JOIN v_product_names AS p ON p.product_id = m.product_id
WHERE m.message_type = 'PoolDividendChanged'
