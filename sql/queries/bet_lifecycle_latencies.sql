-- Bet lifecycle latencies: per bet, seconds from accepted to resulted, from
-- resulted to settled, and end to end (NULL for a stage not reached yet).
SELECT
  bet_id,
  customer_bet_id,
  state,
  accepted_at,
  ROUND((UNIX_MILLIS(resulted_at) - UNIX_MILLIS(accepted_at)) / 1000, 1) AS accepted_to_resulted_s,
  ROUND((UNIX_MILLIS(settled_at) - UNIX_MILLIS(resulted_at)) / 1000, 1) AS resulted_to_settled_s,
  ROUND((UNIX_MILLIS(settled_at) - UNIX_MILLIS(accepted_at)) / 1000, 1) AS accepted_to_settled_s
FROM v_bet_lifecycle
WHERE accepted_at IS NOT NULL
ORDER BY accepted_at, bet_id
