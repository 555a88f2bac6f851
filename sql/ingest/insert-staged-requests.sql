-- The rows of one or more staged units into inference_requests in one insert, engine to engine, leaving out the
-- ids the request writer found to be duplicates or conflicts. One insert for all the units of a write makes one
-- part of them, not one each (fewer parts to merge). Every row of a staged unit passed the event schema's rules,
-- and the unit's events have no fields outside the schema, so their attributes are empty; each unit's source and
-- ingested_at are given beside its stage's name. Stages exist on the embedded warehouse only.
-- Parameters: stage_pattern String (a regular expression matching exactly the stages' names),
--   stages Array(String), sources Array(String), ingested_at Array(String), left_out Array(String)
INSERT INTO inference_requests
SELECT
    request_id, ts, model_id, model_version, feature_id, tenant_id, team, pool_id, instance_id, region, gpu_type,
    gpu_ms, input_tokens, output_tokens, latency_ms, status,
    map() AS attributes,
    transform(_table, {stages:Array(String)}, {sources:Array(String)}, '') AS source,
    toDateTime64(transform(_table, {stages:Array(String)}, {ingested_at:Array(String)}, ''), 3, 'UTC') AS ingested_at
FROM merge(currentDatabase(), {stage_pattern:String})
WHERE NOT has({left_out:Array(String)}, request_id)
SETTINGS enable_analyzer = 0
