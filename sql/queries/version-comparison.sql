-- CPP of each model version on one day: a rollout that made a version
-- costlier per prediction shows here first.
-- Parameters: day Date, currency String
SELECT
    model_id,
    model_version,
    sum(requests) AS requests,
    round(sum(gpu_ms) / sum(requests), 1) AS gpu_ms_per_request,
    round(sum(cost) / sum(requests), 8) AS cpp,
    if(sum(input_tokens + output_tokens) = 0, NULL,
       round(sum(cost) * 1000 / sum(input_tokens + output_tokens), 6)) AS cost_per_1k_tokens
FROM cpp_daily
WHERE day = {day:Date} AND currency = {currency:String}
GROUP BY model_id, model_version
ORDER BY model_id, model_version
SETTINGS prefer_column_name_to_alias = 1
