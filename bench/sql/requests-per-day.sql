-- Synthetic requests for bench/jobs: per_day requests on each of `days` UTC days from `from`, one pool.
-- Parameters: from DateTime, days UInt32, per_day UInt32
INSERT INTO inference_requests
SELECT
    concat('jobs-bench-', toString(number)) AS request_id,
    toDateTime64({from:DateTime('UTC')}, 3, 'UTC') + toIntervalDay(intDiv(number, {per_day:UInt32})) + toIntervalSecond(number % 86400) AS ts,
    'model-1' AS model_id,
    'v1' AS model_version,
    'feature-1' AS feature_id,
    'tenant-1' AS tenant_id,
    '' AS team,
    'pool-1' AS pool_id,
    '' AS instance_id,
    'us-east-1' AS region,
    'H100' AS gpu_type,
    toDecimal64(100, 3) AS gpu_ms,
    toUInt32(10) AS input_tokens,
    toUInt32(10) AS output_tokens,
    NULL AS latency_ms,
    'ok' AS status,
    map() AS attributes,
    'bench' AS source,
    now64(3) AS ingested_at
FROM numbers({days:UInt32} * {per_day:UInt32})
