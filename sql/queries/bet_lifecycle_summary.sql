-- Bet lifecycle summary: how many bets reached each state, and the average
-- and worst time from acceptance to result and to settlement, in seconds.
SELECT
  state,
  COUNT(*) AS bets,
  ROUND(AVG((UNIX_MILLIS(resulted_at) - UNIX_MILLIS(accepted_at)) / 1000), 1) AS avg_accepted_to_resulted_s,
  ROUND(MAX((UNIX_MILLIS(resulted_at) - UNIX_MILLIS(accepted_at)) / 1000), 1) AS max_accepted_to_resulted_s,
  ROUND(AVG((UNIX_MILLIS(settled_at) - UNIX_MILLIS(accepted_at)) / 1000), 1) AS avg_accepted_to_settled_s,
  ROUND(MAX((UNIX_MILLIS(settled_at) - UNIX_MILLIS(accepted_at)) / 1000), 1) AS max_accepted_to_settled_s
FROM v_bet_lifecycle
GROUP BY state
ORDER BY bets DESC, state
