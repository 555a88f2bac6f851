-- The partitions of a table (whole months, YYYYMM, for inference_requests and
-- ingest_rejects) with the rows their active parts hold (before merges).
-- Parameters: table String
SELECT partition_id AS partition, sum(rows) AS rows
FROM system.parts
WHERE database = currentDatabase() AND table = {table:String} AND active
GROUP BY partition_id
ORDER BY partition_id
