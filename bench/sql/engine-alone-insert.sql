-- The engine alone, the bound bench/ingest-file compares ingestion with: chDB parsing an NDJSON file itself, with a
-- typed schema and no validation, into a table shaped like inference_requests (ReplacingMergeTree, same key).
-- Attributes are not read (the benchmark's events have none); source and ingested_at are constants.
-- Parameters: path String (a file under the engine's user_files_path), ingested_at String
INSERT INTO engine_alone_requests
SELECT
    request_id, ts, model_id, model_version, feature_id, tenant_id, team, pool_id, instance_id, region, gpu_type,
    gpu_ms, input_tokens, output_tokens, latency_ms, status,
    map() AS attributes,
    'file:bench' AS source,
    toDateTime64({ingested_at:String}, 3, 'UTC') AS ingested_at
FROM file({path:String}, 'JSONEachRow',
    'request_id String, ts DateTime64(3, \'UTC\'), model_id String, model_version String, feature_id String, tenant_id String,
     team String, pool_id String, instance_id String, region String, gpu_type String, gpu_ms Decimal(18, 3),
     input_tokens UInt32, output_tokens UInt32, latency_ms Nullable(Float64), status Enum8(\'ok\' = 1, \'error\' = 2)')
