-- Bet lifecycle: one row per bet, when each stage was first seen
-- (accepted -> resulted -> settled, or rejected / failed / cancelled) and
-- the furthest state the bet reached.
SELECT
  *,
  CASE
    WHEN settled_at IS NOT NULL THEN 'settled'
    WHEN resulted_at IS NOT NULL THEN 'resulted'
    WHEN cancelled_at IS NOT NULL THEN 'cancelled'
    WHEN rejected_at IS NOT NULL THEN 'rejected'
    WHEN failed_at IS NOT NULL THEN 'failed'
    WHEN accepted_at IS NOT NULL THEN 'accepted'
  END AS state
FROM (
  SELECT
    bet_id,
    MAX(customer_bet_id) AS customer_bet_id,
    MIN(CASE WHEN stage = 'accepted' THEN received_at END) AS accepted_at,
    MIN(CASE WHEN stage = 'rejected' THEN received_at END) AS rejected_at,
    MIN(CASE WHEN stage = 'failed' THEN received_at END) AS failed_at,
    MIN(CASE WHEN stage = 'cancelled' THEN received_at END) AS cancelled_at,
    MIN(CASE WHEN stage = 'resulted' THEN received_at END) AS resulted_at,
    MIN(CASE WHEN stage = 'settled' THEN received_at END) AS settled_at,
    MAX(reason) AS reason
  FROM v_bet_events
  GROUP BY bet_id
) AS b
