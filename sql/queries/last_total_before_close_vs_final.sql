-- Late money: per product, the last pool total received before the product
-- closed against the final total, and how much (and what share) came after.
WITH closes AS (
  SELECT product_id, MIN(received_at) AS closed_at
  FROM v_product_status
  WHERE UPPER(status) = 'CLOSED'
  GROUP BY product_id
),
before_close AS (
  SELECT p.product_id, p.gross_amount, p.received_at
  FROM v_pool_totals AS p
  JOIN closes AS c ON c.product_id = p.product_id
  WHERE p.received_at < c.closed_at
  QUALIFY ROW_NUMBER() OVER (PARTITION BY p.product_id ORDER BY p.received_at DESC, p.envelope_id DESC) = 1
),
final AS (
  SELECT product_id, gross_amount, is_finalized
  FROM v_pool_totals
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY COALESCE(is_finalized, FALSE) DESC, received_at DESC, envelope_id DESC) = 1
)
SELECT
  f.product_id,
  n.venue,
  n.race_time,
  n.bet_type,
  b.gross_amount AS last_before_close,
  f.gross_amount AS final_total,
  f.is_finalized,
  ROUND(f.gross_amount - b.gross_amount, 2) AS late_money,
  ROUND(100 * SAFE_DIVIDE(f.gross_amount - b.gross_amount, b.gross_amount), 2) AS late_money_pct
FROM final AS f
LEFT JOIN before_close AS b ON b.product_id = f.product_id
LEFT JOIN v_product_names AS n ON n.product_id = f.product_id
ORDER BY f.product_id
