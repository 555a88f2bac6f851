-- bench/ingest-engine-parts, step 1: the engine parses an NDJSON file with a strict typed schema (a string where a
-- number belongs, an unknown field, an explicit null fail the whole statement: such a segment would go to the
-- JavaScript parser) and checks what the types leave to check: id lengths, the ISO form of ts, gpu_ms and token
-- ranges, the status. Not the product's full schema: an estimate of its cost.
-- Parameters: path String (a file under the engine's user_files_path)
INSERT INTO typed_stage
SELECT
    toUInt32(rowNumberInAllBlocks()), request_id, parseDateTime64BestEffort(ts, 3, 'UTC'), model_id, model_version,
    feature_id, tenant_id, team, pool_id, instance_id, region, gpu_type, toDecimal64(gpu_ms, 3),
    toUInt32(input_tokens), toUInt32(output_tokens), latency_ms, status,
    length(request_id) BETWEEN 1 AND 256 AND length(model_id) BETWEEN 1 AND 256 AND length(feature_id) BETWEEN 1 AND 256
        AND length(tenant_id) BETWEEN 1 AND 256 AND length(pool_id) BETWEEN 1 AND 256
        AND isValidUTF8(request_id) AND isValidUTF8(tenant_id)
        AND gpu_ms BETWEEN 0 AND 1e10 AND input_tokens = floor(input_tokens) AND input_tokens BETWEEN 0 AND 4294967295
        AND output_tokens = floor(output_tokens) AND output_tokens BETWEEN 0 AND 4294967295
        AND match(ts, '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$')
        AND status IN ('ok', 'error')
FROM file({path:String}, 'JSONEachRow',
    'request_id String, ts String, model_id String, model_version String, feature_id String, tenant_id String,
     team String, pool_id String, instance_id String, region String, gpu_type String, gpu_ms Nullable(Float64),
     input_tokens Float64, output_tokens Float64, latency_ms Nullable(Float64), status String')
SETTINGS input_format_json_read_numbers_as_strings = 0, input_format_json_read_bools_as_strings = 0,
    input_format_json_read_objects_as_strings = 0, input_format_json_read_arrays_as_strings = 0,
    input_format_skip_unknown_fields = 0, max_threads = 1
