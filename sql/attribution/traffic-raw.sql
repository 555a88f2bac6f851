-- Step 1 of attributing a day, from the raw rows: the requests of the window,
-- deduplicated (FINAL), summed per (hour, pool, model, version, feature,
-- tenant, team). What traffic.sql gives from the hourly groups, summed the
-- same way: attribution reads the groups; this reading of the raw rows is kept
-- to check them against (tests, bench/attribution.ts, attributeDay's
-- `traffic: 'raw'`), and gives identical tables while the raw rows exist.
-- Team: the event's, else the feature's team from config, else the model's, else 'unassigned'.
-- Parameters: from DateTime, to DateTime, feature_keys Array(String), feature_teams Array(String),
--             model_keys Array(String), model_teams Array(String)
SELECT
    toStartOfHour(ts) AS hour,
    pool_id,
    model_id,
    model_version,
    feature_id,
    tenant_id,
    if(team != '', team,
       transform(feature_id, {feature_keys:Array(String)}, {feature_teams:Array(String)},
                 transform(model_id, {model_keys:Array(String)}, {model_teams:Array(String)}, 'unassigned'))) AS team,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(gpu_ms) AS gpu_ms
FROM inference_requests FINAL
WHERE ts >= {from:DateTime('UTC')} AND ts < {to:DateTime('UTC')}
GROUP BY hour, pool_id, model_id, model_version, feature_id, tenant_id, team
