-- bench/ingest-engine-parts, step 3: the stage's valid rows into inference_requests, engine to engine (the writer
-- would leave out the lines it found to be duplicates).
INSERT INTO inference_requests
SELECT request_id, ts, model_id, model_version, feature_id, tenant_id, team, pool_id, instance_id, region, gpu_type,
    gpu_ms, input_tokens, output_tokens, latency_ms, status, map(), 'file:bench', now64(3)
FROM typed_stage
WHERE ok
