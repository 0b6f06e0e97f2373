-- One row per envelope. Streaming insertIds stop retries from duplicating
-- rows, but BigQuery remembers them only for about a minute; a row replayed
-- later from the spill (or stored by a request that timed out and was then
-- spilled) can appear twice in the raw table. This view keeps one. Duplicates
-- share received_at, so partitioning by it too lets a filter on received_at
-- still prune partitions through the view.
SELECT *
FROM tote_messages
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY received_at, envelope_id) = 1
