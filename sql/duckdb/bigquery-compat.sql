-- BigQuery functions that the shared views and queries use, defined as DuckDB
-- macros so that one SQL text runs on both. The DuckDB store runs this file
-- at connect and keeps the macros in the database file, so the duckdb CLI can
-- read the views too. Each macro matches BigQuery's documented behaviour for
-- the arguments the views and queries pass.

-- JSON: BigQuery's JSON_VALUE returns the scalar as text without quotes;
-- DuckDB's own json_value keeps the JSON quotes, hence the override.
CREATE OR REPLACE MACRO JSON_VALUE(j, p) AS json_extract_string(j, p);
CREATE OR REPLACE MACRO JSON_QUERY(j, p) AS json_extract(j, p);
CREATE OR REPLACE MACRO JSON_QUERY_ARRAY(j, p) AS CAST(json_extract(j, p) AS JSON[]);
-- LAX_*: a value of the wrong kind becomes NULL instead of failing the query.
CREATE OR REPLACE MACRO LAX_FLOAT64(j) AS TRY_CAST(json_extract_string(j, '$') AS DOUBLE);
CREATE OR REPLACE MACRO LAX_BOOL(j) AS TRY_CAST(json_extract_string(j, '$') AS BOOLEAN);

-- Time: received_at is TIMESTAMPTZ here, TIMESTAMP (an instant) in BigQuery.
CREATE OR REPLACE MACRO UNIX_SECONDS(ts) AS CAST(floor(epoch(ts)) AS BIGINT);
CREATE OR REPLACE MACRO UNIX_MILLIS(ts) AS epoch_ms(ts);
CREATE OR REPLACE MACRO TIMESTAMP_SECONDS(s) AS to_timestamp(s);
CREATE OR REPLACE MACRO FORMAT_TIMESTAMP(f, ts, tz) AS strftime(timezone(tz, ts), f);
-- Dates as whole days since 1970-01-01, so day lists are integer arithmetic in both.
CREATE OR REPLACE MACRO PARSE_DATE(f, s) AS CAST(strptime(s, f) AS DATE);
CREATE OR REPLACE MACRO UNIX_DATE(d) AS CAST(d - DATE '1970-01-01' AS BIGINT);
CREATE OR REPLACE MACRO DATE_FROM_UNIX_DATE(n) AS CAST(DATE '1970-01-01' + CAST(n AS INTEGER) AS DATE);
CREATE OR REPLACE MACRO FORMAT_DATE(f, d) AS strftime(d, f);

-- Arithmetic and text: DIV truncates toward zero in both.
CREATE OR REPLACE MACRO DIV(a, b) AS a // b;
CREATE OR REPLACE MACRO SAFE_DIVIDE(a, b) AS CASE WHEN b = 0 THEN NULL ELSE a / b END;
CREATE OR REPLACE MACRO FORMAT(f, a, b) AS printf(f, a, b);
