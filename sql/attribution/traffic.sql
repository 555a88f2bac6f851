-- Step 1 of attributing a day: its traffic, from the hourly groups
-- (request_hours: the deduplicated requests per hour, pool and group, made
-- current from the raw rows just before, see request-hours-state.sql), with
-- the team of the configuration for groups whose events had none.
-- Team: the event's, else the feature's team from config, else the model's, else 'unassigned'.
-- Two groups may map to one team, so a key may have several rows here: every
-- later step sums them (the sums are exact: integers and decimals), which is
-- why this equals reading the raw rows (traffic-raw.sql) to the last unit.
-- Parameters: from DateTime, to DateTime, feature_keys Array(String), feature_teams Array(String),
--             model_keys Array(String), model_teams Array(String)
SELECT
    hour,
    pool_id,
    model_id,
    model_version,
    feature_id,
    tenant_id,
    if(team != '', team,
       transform(feature_id, {feature_keys:Array(String)}, {feature_teams:Array(String)},
                 transform(model_id, {model_keys:Array(String)}, {model_teams:Array(String)}, 'unassigned'))) AS team,
    requests,
    input_tokens,
    output_tokens,
    gpu_ms
FROM request_hours
WHERE hour >= {from:DateTime('UTC')} AND hour < {to:DateTime('UTC')}
