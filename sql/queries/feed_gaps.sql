-- Feed gaps: stretches of whole minutes between 06:00 and 23:00 (Europe/London,
-- the subscriber's window) in which no message at all arrived, for every
-- calendar day from the first day with a message to the last; a day with no
-- message at all shows as one gap over the whole window. Today stops at now:
-- the rest of today's window has not happened yet.
WITH active AS (
  SELECT DISTINCT
    UNIX_DATE(PARSE_DATE('%Y-%m-%d', FORMAT_TIMESTAMP('%Y-%m-%d', received_at, 'Europe/London'))) AS day_number,
    CAST(FORMAT_TIMESTAMP('%H', received_at, 'Europe/London') AS INT64) * 60
      + CAST(FORMAT_TIMESTAMP('%M', received_at, 'Europe/London') AS INT64) AS minute_of_day
  FROM v_messages
),
clock AS (
  SELECT
    UNIX_DATE(PARSE_DATE('%Y-%m-%d', FORMAT_TIMESTAMP('%Y-%m-%d', CURRENT_TIMESTAMP, 'Europe/London'))) AS today,
    CAST(FORMAT_TIMESTAMP('%H', CURRENT_TIMESTAMP, 'Europe/London') AS INT64) * 60
      + CAST(FORMAT_TIMESTAMP('%M', CURRENT_TIMESTAMP, 'Europe/London') AS INT64) AS now_minute
),
digits AS (
  SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
  UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9
),
-- Day offsets 0..9999 (27 years) from a plain numbers list: the same text in
-- both dialects, where UNNEST with an alias is read differently by DuckDB.
offsets AS (
  SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS n
  FROM digits AS a CROSS JOIN digits AS b CROSS JOIN digits AS c CROSS JOIN digits AS e
),
days AS (
  SELECT s.first_day + o.n AS day_number
  FROM (SELECT MIN(day_number) AS first_day, MAX(day_number) AS last_day FROM active) AS s
  JOIN offsets AS o ON o.n <= s.last_day - s.first_day
),
bounds AS (
  -- The active minutes inside the window, plus 05:59 and 23:00 as the window's edges of
  -- every day; today's end is now (the minute under way counts as not silent yet).
  SELECT day_number, minute_of_day FROM active WHERE minute_of_day >= 360 AND minute_of_day < 1380
  UNION ALL SELECT day_number, 359 FROM days
  UNION ALL
  SELECT d.day_number, CASE WHEN d.day_number = c.today AND c.now_minute < 1380 THEN c.now_minute ELSE 1380 END
  FROM days AS d CROSS JOIN clock AS c
),
gaps AS (
  SELECT
    day_number,
    LAG(minute_of_day) OVER (PARTITION BY day_number ORDER BY minute_of_day) + 1 AS gap_start,
    minute_of_day AS gap_end
  FROM bounds
)
SELECT
  FORMAT_DATE('%Y-%m-%d', DATE_FROM_UNIX_DATE(day_number)) AS day,
  FORMAT('%02d:%02d', DIV(gap_start, 60), MOD(gap_start, 60)) AS silent_from,
  FORMAT('%02d:%02d', DIV(gap_end, 60), MOD(gap_end, 60)) AS silent_until,
  gap_end - gap_start AS silent_minutes
FROM gaps
WHERE gap_end > gap_start
ORDER BY day, gap_start
