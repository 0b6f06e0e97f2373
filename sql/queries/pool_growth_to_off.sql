-- Pool growth toward the off: for each product, the gross pool 30, 15, 10, 5,
-- 2 and 1 minutes before the product closed (the off) and at the close, and
-- what share of the final pool it had reached by then.
WITH closes AS (
  SELECT product_id, MIN(received_at) AS closed_at
  FROM v_product_status
  WHERE UPPER(status) = 'CLOSED'
  GROUP BY product_id
),
final AS (
  SELECT product_id, gross_amount AS final_gross
  FROM v_pool_totals
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY COALESCE(is_finalized, FALSE) DESC, received_at DESC, envelope_id DESC) = 1
),
marks AS (
  SELECT 30 AS minutes_before UNION ALL SELECT 15 UNION ALL SELECT 10
  UNION ALL SELECT 5 UNION ALL SELECT 2 UNION ALL SELECT 1 UNION ALL SELECT 0
),
snapshots AS (
  SELECT c.product_id, k.minutes_before, p.gross_amount
  FROM closes AS c
  CROSS JOIN marks AS k
  JOIN v_pool_totals AS p
    ON p.product_id = c.product_id
    AND UNIX_MILLIS(p.received_at) <= UNIX_MILLIS(c.closed_at) - k.minutes_before * 60000
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY c.product_id, k.minutes_before ORDER BY p.received_at DESC, p.envelope_id DESC) = 1
)
SELECT
  s.product_id,
  n.venue,
  n.race_time,
  n.bet_type,
  s.minutes_before,
  s.gross_amount AS gross_pool,
  ROUND(100 * SAFE_DIVIDE(s.gross_amount, f.final_gross), 1) AS pct_of_final
FROM snapshots AS s
JOIN final AS f ON f.product_id = s.product_id
LEFT JOIN v_product_names AS n ON n.product_id = s.product_id
ORDER BY s.product_id, s.minutes_before DESC
