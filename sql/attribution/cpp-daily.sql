-- Step 5: cost per prediction by UTC day and group. Costs come from the
-- allocation; request, token and GPU counts from the traffic of billed hours,
-- each request once (even where a pool has an hourly and a daily period).
-- Requests still waiting for their bill are not here (see coverage_daily).
-- Parameters: traffic Identifier, hours Identifier, allocation Identifier, attributed_at DateTime64(3)
WITH
    traffic_day AS (
        SELECT
            toDate(hour) AS day, model_id, model_version, feature_id, team, tenant_id,
            sum(requests) AS requests, sum(input_tokens) AS input_tokens,
            sum(output_tokens) AS output_tokens, sum(gpu_ms) AS gpu_ms
        FROM {traffic:Identifier}
        WHERE (pool_id, hour) IN (SELECT pool_id, hour FROM {hours:Identifier} WHERE pool_id != '')
        GROUP BY day, model_id, model_version, feature_id, team, tenant_id
    ),
    cost_day AS (
        SELECT
            toDate(period_start) AS day, model_id, model_version, feature_id, team, tenant_id, currency,
            sum(cost) AS cost, sum(used_cost) AS used_cost, max(estimated) AS estimated
        FROM {allocation:Identifier}
        GROUP BY day, model_id, model_version, feature_id, team, tenant_id, currency
    )
SELECT
    c.day AS day, c.model_id AS model_id, c.model_version AS model_version, c.feature_id AS feature_id,
    c.team AS team, c.tenant_id AS tenant_id, c.currency AS currency,
    t.requests AS requests, t.input_tokens AS input_tokens, t.output_tokens AS output_tokens, t.gpu_ms AS gpu_ms,
    c.cost AS cost, c.used_cost AS used_cost,
    if(t.requests = 0, toDecimal128(0, 12), c.cost / t.requests) AS cpp,
    if(t.input_tokens + t.output_tokens = 0, NULL, c.cost * 1000 / (t.input_tokens + t.output_tokens)) AS cost_per_1k_tokens,
    c.estimated AS estimated,
    {attributed_at:DateTime64(3, 'UTC')} AS attributed_at
FROM cost_day AS c
INNER JOIN traffic_day AS t
    ON c.day = t.day AND c.model_id = t.model_id AND c.model_version = t.model_version
   AND c.feature_id = t.feature_id AND c.team = t.team AND c.tenant_id = t.tenant_id
