-- A product's selections by id: the runner each backs (number and name),
-- from the latest day card (selection ids differ per product).
WITH s AS (
  SELECT product_id, selection_id, competitor_id
  FROM tote_names
  WHERE kind = 'selection'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY product_id, selection_id ORDER BY received_at DESC) = 1
)
SELECT
  s.product_id,
  s.selection_id,
  s.competitor_id,
  r.runner_number,
  r.runner_name
FROM s
LEFT JOIN v_runner_names AS r ON r.competitor_id = s.competitor_id
