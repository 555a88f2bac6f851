-- Synthetic request events for bench/attribution, generated inside the engine
-- (inserting tens of millions through the client would measure ingestion, not attribution).
-- One UTC day; pool = n % pools; each pool serves one model with three features; 200 tenants, skewed.
-- Rows first .. first + n - 1 of the day's total, spread evenly over the day; ids start at id_offset + first.
-- Parameters: day DateTime, n UInt64, total UInt64, first UInt64, id_offset UInt64, pools UInt32
INSERT INTO inference_requests
SELECT
    concat('bench-', toString({id_offset:UInt64} + {first:UInt64} + number)) AS request_id,
    toDateTime64({day:DateTime('UTC')}, 3, 'UTC') + toIntervalMillisecond(intDiv(({first:UInt64} + number) * 86400000, {total:UInt64})) AS ts,
    concat('model-', toString(pool % 10)) AS model_id,
    'v1' AS model_version,
    concat('feature-', toString(pool % 10), '-', toString(number % 3)) AS feature_id,
    concat('tenant-', toString(toUInt32(pow(intHash32(number) % 1000 / 1000, 3) * 200))) AS tenant_id,
    '' AS team,
    concat('pool-', toString(pool)) AS pool_id,
    '' AS instance_id,
    'us-east-1' AS region,
    'H100' AS gpu_type,
    toDecimal64((cityHash64(number, 1) % 200000) / 1000, 3) AS gpu_ms,
    toUInt32(cityHash64(number, 2) % 2000) AS input_tokens,
    toUInt32(cityHash64(number, 3) % 500) AS output_tokens,
    NULL AS latency_ms,
    'ok' AS status,
    map() AS attributes,
    'bench' AS source,
    now64(3) AS ingested_at
FROM (SELECT number, number % {pools:UInt32} AS pool FROM numbers({n:UInt64}))
