-- Final pool total per product: the finalized PoolTotalChanged (or, when none
-- was finalized yet, the last one received), with how many updates the pool had,
-- named by venue, race time, race and bet type.
SELECT
  product_id,
  venue,
  race_time,
  event_name,
  bet_type,
  gross_amount,
  net_amount,
  currency,
  is_finalized,
  received_at AS total_at,
  updates
FROM (
  SELECT *, COUNT(*) OVER (PARTITION BY product_id) AS updates
  FROM v_pool_totals
) AS p
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY COALESCE(is_finalized, FALSE) DESC, received_at DESC, envelope_id DESC) = 1
ORDER BY product_id
