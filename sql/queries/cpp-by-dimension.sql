-- Cost per prediction over a date range, by one dimension of cpp_daily
-- (model_id, model_version, feature_id, team or tenant_id): fully loaded CPP,
-- utilised CPP (idle left out) and cost per 1K tokens. Costs of one currency.
-- Aliases reuse column names (cost, requests), so column names win inside expressions (the SETTINGS line).
-- Parameters: dim Identifier (a cpp_daily column), from Date, to Date (exclusive), currency String, limit UInt32
SELECT
    {dim:Identifier} AS key,
    sum(requests) AS requests,
    round(sum(cost), 2) AS cost,
    round(sum(cost) / sum(requests), 8) AS cpp,
    round(sum(used_cost) / sum(requests), 8) AS used_cpp,
    if(sum(input_tokens + output_tokens) = 0, NULL,
       round(sum(cost) * 1000 / sum(input_tokens + output_tokens), 6)) AS cost_per_1k_tokens
FROM cpp_daily
WHERE day >= {from:Date} AND day < {to:Date} AND currency = {currency:String}
GROUP BY key
ORDER BY sum(cost) DESC
LIMIT {limit:UInt32}
SETTINGS prefer_column_name_to_alias = 1
