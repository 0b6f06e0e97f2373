-- Time from product close to final dividend: per product, when it closed,
-- when the first FINAL dividend arrived, and the minutes in between (NULL
-- while no final dividend has been declared). Slowest first.
WITH closes AS (
  SELECT product_id, MIN(received_at) AS closed_at
  FROM v_product_status
  WHERE UPPER(status) = 'CLOSED'
  GROUP BY product_id
),
finals AS (
  SELECT product_id, MIN(received_at) AS final_dividend_at
  FROM v_dividends
  WHERE UPPER(dividend_status) = 'FINAL'
  GROUP BY product_id
)
SELECT
  c.product_id,
  n.venue,
  n.race_time,
  n.bet_type,
  c.closed_at,
  f.final_dividend_at,
  ROUND((UNIX_MILLIS(f.final_dividend_at) - UNIX_MILLIS(c.closed_at)) / 60000, 2) AS minutes_to_final_dividend
FROM closes AS c
LEFT JOIN finals AS f ON f.product_id = c.product_id
LEFT JOIN v_product_names AS n ON n.product_id = c.product_id
ORDER BY minutes_to_final_dividend DESC, c.product_id
