-- bench/ingest-engine-parts: the stage a typed engine path would parse a segment into (Memory: nothing on disk),
-- with each line's number and the verdict of the schema checks that need no JavaScript.
CREATE TABLE typed_stage
(
    n UInt32, request_id String, ts DateTime64(3, 'UTC'), model_id String, model_version String, feature_id String,
    tenant_id String, team String, pool_id String, instance_id String, region String, gpu_type String,
    gpu_ms Decimal(18, 3), input_tokens UInt32, output_tokens UInt32, latency_ms Nullable(Float64),
    status Enum8('ok' = 1, 'error' = 2), ok UInt8
)
ENGINE = Memory
