-- The engine parses one unit of NDJSON request events (a file in its user_files_path) into a stage made by
-- create-request-stage.sql, and marks each event valid when it passes every rule of the event schema
-- (src/events/request-event.ts) in the forms this statement claims. It never rejects: a unit holding any event
-- not marked valid is parsed by JavaScript instead, whole, so every reject and its reason come from the schema.
--
-- The read is strict: a string where a number belongs, a number or object where a string belongs, an unknown
-- field fail the statement (the unit then goes to JavaScript). Nullable columns with DEFAULTs tell a missing
-- field (the DEFAULT) from an explicit null (NULL): the schema treats the two differently.
--
-- What each rule claims, against the schema:
--   ids and text:  1 to 256 bytes (bytes >= UTF-16 units, so never longer than the schema allows)
--   ts:            'YYYY-MM-DDThh:mm:ss[.f{1,3}]Z', a real date and time, from 2000-01-01 to {latest_ms} (now + 1 day)
--   gpu_ms:        finite, 0 to 1e10, kept as JavaScript rounds it: Math.round(gpu_ms * 1000) / 1000
--   tokens:        integers 0 to 2^32 - 1, 0 when missing
--   latency_ms:    finite and >= 0 (negative zero stored as zero, as JSON.stringify writes it), NULL when missing
--   status:        'ok' or 'error', 'ok' when missing
--   tenant_id, team: ASCII without '(' (no reserved owner name can be spelt so)
--   no text holds a line end: every line starts with { and ends with } (the caller checks), but a string with a
--                  raw line end could still carry one event over two lines while another line holds two, and
--                  the rows would no longer be the lines (ts and status are held to exact forms already)
-- What the caller checks first (src/events/engine-scan.ts): one object per line as above, no raw control
-- character within a line, and none of the forms this read takes otherwise than JSON.parse.
-- Parameters: stage Identifier, path String, latest_ms Int64
INSERT INTO {stage:Identifier}
SELECT
    toUInt32(rowNumberInAllBlocks()) AS row_index,
    length(request_id_in) BETWEEN 1 AND 256
        AND length(model_id_in) BETWEEN 1 AND 256
        AND length(feature_id_in) BETWEEN 1 AND 256
        AND length(tenant_id_in) BETWEEN 1 AND 256 AND lengthUTF8(tenant_id_in) = length(tenant_id_in)
            AND position(tenant_id_in, '(') = 0
        AND length(pool_id_in) BETWEEN 1 AND 256
        AND isNotNull(model_version) AND length(model_version_in) <= 256
        AND isNotNull(team) AND length(team_in) <= 256 AND lengthUTF8(team_in) = length(team_in)
            AND position(team_in, '(') = 0
        AND isNotNull(instance_id) AND length(instance_id_in) <= 256
        AND isNotNull(region) AND length(region_in) <= 256
        AND isNotNull(gpu_type) AND length(gpu_type_in) <= 256
        AND position(request_id_in, '\n') = 0 AND position(model_id_in, '\n') = 0
        AND position(model_version_in, '\n') = 0 AND position(feature_id_in, '\n') = 0
        AND position(tenant_id_in, '\n') = 0 AND position(team_in, '\n') = 0 AND position(pool_id_in, '\n') = 0
        AND position(instance_id_in, '\n') = 0 AND position(region_in, '\n') = 0 AND position(gpu_type_in, '\n') = 0
        AND match(ts_text, '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,3})?Z$')
        AND formatDateTime(ts_value, '%Y-%m-%dT%H:%i:%S') = substring(ts_text, 1, 19)
        AND toUnixTimestamp64Milli(ts_value) BETWEEN 946684800000 AND {latest_ms:Int64}
        AND isFinite(gpu_ms_in) AND gpu_ms_in BETWEEN 0 AND 1e10
        AND input_tokens_in = floor(input_tokens_in) AND input_tokens_in BETWEEN 0 AND 4294967295
        AND output_tokens_in = floor(output_tokens_in) AND output_tokens_in BETWEEN 0 AND 4294967295
        AND (isNaN(latency_in) OR (isFinite(latency_in) AND latency_in >= 0))
        AND status_in IN ('ok', 'error')
        AS valid,
    request_id_in, ts_value, model_id_in, model_version_in, feature_id_in, tenant_id_in, team_in, pool_id_in,
    instance_id_in, region_in, gpu_type_in,
    -- Math.round(x) is floor(x) + 1 when x's fraction is at least one half (x >= 0 here); x - floor(x) is exact.
    toDecimal64(if(valid, floor(gpu_ms_in * 1000) + (gpu_ms_in * 1000 - floor(gpu_ms_in * 1000) >= 0.5), 0), 3) / 1000,
    toUInt32(if(valid, input_tokens_in, 0)),
    toUInt32(if(valid, output_tokens_in, 0)),
    if(isNaN(latency_in), NULL, latency_in + 0),
    if(status_in = 'error', 'error', 'ok')
FROM
(
    SELECT
        *,
        ifNull(request_id, '') AS request_id_in, ifNull(model_id, '') AS model_id_in,
        ifNull(model_version, '') AS model_version_in, ifNull(feature_id, '') AS feature_id_in,
        ifNull(tenant_id, '') AS tenant_id_in, ifNull(team, '') AS team_in, ifNull(pool_id, '') AS pool_id_in,
        ifNull(instance_id, '') AS instance_id_in, ifNull(region, '') AS region_in, ifNull(gpu_type, '') AS gpu_type_in,
        ifNull(ts, '') AS ts_text,
        parseDateTime64BestEffortOrZero(ts_text, 3, 'UTC') AS ts_value,
        ifNull(gpu_ms, nan) AS gpu_ms_in,
        ifNull(input_tokens, nan) AS input_tokens_in,
        ifNull(output_tokens, nan) AS output_tokens_in,
        ifNull(latency_ms, -1) AS latency_in,
        ifNull(status, '') AS status_in
    FROM file({path:String}, 'JSONEachRow',
        'request_id Nullable(String), ts Nullable(String), model_id Nullable(String),
         model_version Nullable(String) DEFAULT \'\', feature_id Nullable(String), tenant_id Nullable(String),
         team Nullable(String) DEFAULT \'\', pool_id Nullable(String), instance_id Nullable(String) DEFAULT \'\',
         region Nullable(String) DEFAULT \'\', gpu_type Nullable(String) DEFAULT \'\', gpu_ms Nullable(Float64),
         input_tokens Nullable(Float64) DEFAULT 0, output_tokens Nullable(Float64) DEFAULT 0,
         latency_ms Nullable(Float64) DEFAULT nan, status Nullable(String) DEFAULT \'ok\'')
)
SETTINGS input_format_json_read_numbers_as_strings = 0, input_format_json_read_bools_as_strings = 0,
    input_format_json_read_bools_as_numbers = 0, input_format_json_read_objects_as_strings = 0,
    input_format_json_read_arrays_as_strings = 0, input_format_skip_unknown_fields = 0,
    input_format_null_as_default = 0, input_format_parallel_parsing = 0,
    max_threads = 1, enable_analyzer = 0
