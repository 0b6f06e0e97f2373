-- Product status (ProductStatusChanged): OPEN, CLOSED (the off), settled...
-- Status casing varies in Tote's documents: compare with UPPER().
SELECT
  envelope_id,
  received_at,
  product_id,
  JSON_VALUE(payload, '$.status') AS status,
  source
FROM v_messages
WHERE message_type = 'ProductStatusChanged'
