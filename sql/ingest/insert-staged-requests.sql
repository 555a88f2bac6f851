-- A staged unit's rows into inference_requests, engine to engine, leaving out the ids the request writer found
-- to be duplicates or conflicts. Every row of a staged unit passed the event schema's rules, and the unit's
-- events have no fields outside the schema, so their attributes are empty.
-- Parameters: stage Identifier, source String, ingested_at String, left_out Array(String)
INSERT INTO inference_requests
SELECT
    request_id, ts, model_id, model_version, feature_id, tenant_id, team, pool_id, instance_id, region, gpu_type,
    gpu_ms, input_tokens, output_tokens, latency_ms, status,
    map() AS attributes,
    {source:String} AS source,
    toDateTime64({ingested_at:String}, 3, 'UTC') AS ingested_at
FROM {stage:Identifier}
WHERE NOT has({left_out:Array(String)}, request_id)
SETTINGS enable_analyzer = 0
