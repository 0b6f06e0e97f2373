-- Bet messages (BetAccepted ... BetSettled): one row per message, with its
-- stage in the lifecycle and the reason Tote gave for a rejection or failure.
SELECT
  envelope_id,
  received_at,
  bet_id,
  customer_bet_id,
  message_type,
  CASE message_type
    WHEN 'BetAccepted' THEN 'accepted'
    WHEN 'BetRejected' THEN 'rejected'
    WHEN 'BetFailed' THEN 'failed'
    WHEN 'BetCancelled' THEN 'cancelled'
    WHEN 'BetResulted' THEN 'resulted'
    WHEN 'BetSettled' THEN 'settled'
  END AS stage,
  JSON_VALUE(payload, '$.reason') AS reason,
  source
FROM v_messages
WHERE message_type IN ('BetAccepted', 'BetRejected', 'BetFailed', 'BetCancelled', 'BetResulted', 'BetSettled')
