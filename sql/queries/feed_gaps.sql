-- Feed gaps: stretches of whole minutes between 06:00 and 23:00 (Europe/London,
-- the subscriber's window) in which no message at all arrived, per day that
-- had any message. A day with no message at all is not listed.
WITH active AS (
  SELECT DISTINCT
    FORMAT_TIMESTAMP('%Y-%m-%d', received_at, 'Europe/London') AS day,
    CAST(FORMAT_TIMESTAMP('%H', received_at, 'Europe/London') AS INT64) * 60
      + CAST(FORMAT_TIMESTAMP('%M', received_at, 'Europe/London') AS INT64) AS minute_of_day
  FROM v_messages
),
bounds AS (
  -- The active minutes inside the window, plus 05:59 and 23:00 as the window's edges.
  SELECT day, minute_of_day FROM active WHERE minute_of_day >= 360 AND minute_of_day < 1380
  UNION ALL SELECT DISTINCT day, 359 FROM active
  UNION ALL SELECT DISTINCT day, 1380 FROM active
),
gaps AS (
  SELECT
    day,
    LAG(minute_of_day) OVER (PARTITION BY day ORDER BY minute_of_day) + 1 AS gap_start,
    minute_of_day AS gap_end
  FROM bounds
)
SELECT
  day,
  FORMAT('%02d:%02d', DIV(gap_start, 60), MOD(gap_start, 60)) AS silent_from,
  FORMAT('%02d:%02d', DIV(gap_end, 60), MOD(gap_end, 60)) AS silent_until,
  gap_end - gap_start AS silent_minutes
FROM gaps
WHERE gap_end > gap_start
ORDER BY day, gap_start
