-- Chargeback report: the month's attributed traffic at its finest grain,
-- (pool, currency, team, tenant, model, version, feature), read once: the
-- lines per team or tenant, the FOCUS rows and the version comparison are
-- all sums of these. cost is fully loaded (idle of the hours with traffic
-- spread over it), used_cost the GPU time used; exact Decimal(38, 12) sums.
-- Parameters: month_start DateTime, month_end DateTime
SELECT
    toString(pool_id) AS pool_id,
    toString(currency) AS currency,
    toString(team) AS team,
    tenant_id,
    toString(model_id) AS model_id,
    toString(model_version) AS model_version,
    toString(feature_id) AS feature_id,
    sum(requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(gpu_ms) AS gpu_ms,
    sum(cost) AS cost,
    sum(used_cost) AS used_cost,
    max(estimated) AS estimated
FROM cost_allocation
WHERE period_start >= {month_start:DateTime('UTC')} AND period_start < {month_end:DateTime('UTC')}
GROUP BY pool_id, currency, team, tenant_id, model_id, model_version, feature_id
ORDER BY currency, pool_id, team, tenant_id, model_id, model_version, feature_id
SETTINGS prefer_column_name_to_alias = 1
