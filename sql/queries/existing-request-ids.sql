-- The stored copy of each of a batch's request ids within the duplicate
-- horizon, with its content: an identical event is a replay (a duplicate), a
-- different one reusing the id is a conflicting duplicate (the first copy wins).
-- The ids arrive in the request body as a table of their own (`ids`: external
-- data on a server, a temporary table on chDB), never in the URL, so a batch
-- of any size fits. The hour range (the batch's hours widened by the horizon)
-- lets the primary key skip everything else. Should two copies of an id be
-- stored (two writers racing, or rows from before the horizon check), the one
-- ingested first is the one compared.
-- Parameters: ids Identifier (table with one column request_id String), from_hour DateTime, to_hour DateTime
SELECT
    request_id,
    toString(toUnixTimestamp64Milli(ts)) AS ts_ms,
    model_id,
    model_version,
    feature_id,
    tenant_id,
    team,
    pool_id,
    instance_id,
    region,
    gpu_type,
    toString(gpu_ms) AS gpu_ms,
    input_tokens,
    output_tokens,
    latency_ms,
    toString(status) AS status,
    attributes
FROM inference_requests
WHERE toStartOfHour(ts) >= {from_hour:DateTime('UTC')}
  AND toStartOfHour(ts) <= {to_hour:DateTime('UTC')}
  AND request_id IN (SELECT request_id FROM {ids:Identifier})
ORDER BY request_id, ingested_at, ts
LIMIT 1 BY request_id
