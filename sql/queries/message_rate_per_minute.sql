-- Message rate: how many messages of each type arrived in each minute (UTC).
SELECT
  TIMESTAMP_SECONDS(60 * DIV(UNIX_SECONDS(received_at), 60)) AS minute,
  message_type,
  COUNT(*) AS messages
FROM v_messages
GROUP BY minute, message_type
ORDER BY minute, message_type
