-- A stage for one unit of request lines that the engine parses itself (src/events/staged-units.ts):
-- inference_requests' own column types, the line's place in the unit, and whether the line passed every rule of
-- the event schema. In memory only: a stage lives from the parse to the insert of its unit, and a stage left by a
-- killed process is dropped by the next ingestion.
-- Parameters: stage Identifier
CREATE TABLE {stage:Identifier}
(
    row_index     UInt32,
    valid         UInt8,
    request_id    String,
    ts            DateTime64(3, 'UTC'),
    model_id      String,
    model_version String,
    feature_id    String,
    tenant_id     String,
    team          String,
    pool_id       String,
    instance_id   String,
    region        String,
    gpu_type      String,
    gpu_ms        Decimal(18, 3),
    input_tokens  UInt32,
    output_tokens UInt32,
    latency_ms    Nullable(Float64),
    status        Enum8('ok' = 1, 'error' = 2)
)
ENGINE = Memory
