-- Raw inference request log: one row per request event (schema version 1),
-- written by `inferledger ingest requests` and the Kafka collector.
--
-- Deduplication: a request_id is immutable; a replayed file or a redelivered
-- message carries the same event again. Writers skip ids already stored, and
-- ReplacingMergeTree collapses whatever slips through (e.g. two writers at
-- once) because the sorting key ends in request_id. Readers that count use
-- FINAL (or the inference_requests_dedup view), so a duplicate never reaches
-- any downstream result.
--
-- ORDER BY (hour, pool_id, request_id): attribution reads one pool-hour at a
-- time, and a duplicate of an event has the same hour, so it shares the key.
-- PARTITION BY month keeps partitions few and lets old months be dropped whole.
CREATE TABLE IF NOT EXISTS inference_requests
(
    request_id     String                          COMMENT 'Unique id of the request, set by the serving system',
    ts             DateTime64(3, 'UTC')          COMMENT 'When the request started (UTC); decides its billing period',
    model_id       LowCardinality(String)          COMMENT 'Model that served the request',
    model_version  LowCardinality(String)          COMMENT 'Model version; empty when the event had none',
    feature_id     LowCardinality(String)          COMMENT 'Product feature that sent the request',
    tenant_id      String                          COMMENT 'Customer / tenant the request was made for',
    team           LowCardinality(String)          COMMENT 'Owning team from the event; empty when the event had none',
    pool_id        LowCardinality(String)          COMMENT 'GPU pool (value of the pool tag on the bill) that served it',
    instance_id    String                          COMMENT 'Instance that served it; empty when unknown',
    region         LowCardinality(String)          COMMENT 'Cloud region; empty when unknown',
    gpu_type       LowCardinality(String)          COMMENT 'GPU type, e.g. H100; empty when unknown',
    gpu_ms         Decimal(18, 3)                  COMMENT 'GPU time used, milliseconds (exact to the microsecond)',
    input_tokens   UInt32                          COMMENT 'Prompt / input tokens',
    output_tokens  UInt32                          COMMENT 'Generated / output tokens',
    latency_ms     Nullable(Float64)               COMMENT 'End-to-end latency, milliseconds, when reported',
    status         Enum8('ok' = 1, 'error' = 2) COMMENT 'Outcome of the request',
    attributes     Map(String, String)             COMMENT 'Fields of the event outside schema v1, kept as strings',
    source         LowCardinality(String)          COMMENT 'Where the row came from: file:<name> or kafka:<topic>',
    ingested_at    DateTime64(3, 'UTC')          COMMENT 'When inferledger stored the row'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (toStartOfHour(ts), pool_id, request_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- What analysts should count from: one row per request_id, whatever was redelivered.
CREATE VIEW IF NOT EXISTS inference_requests_dedup AS
SELECT * FROM inference_requests FINAL;
