-- Inputs of CPP alerts: per UTC day, alert key (model, feature, tenant or '',
-- currency) and cell (pool, weight basis), the requests, GPU time and both
-- costs. Cells are what the decomposition weighs: a key's CPP is the sum of
-- its cells' contributions. Costs as Float64: they only make ratios here
-- (the exact CPPs an alert stores come from key-cpp.sql).
-- Parameters: from Date, to Date, by_tenant Bool
SELECT
    toString(toDate(period_start)) AS day,
    model_id,
    feature_id,
    if({by_tenant:Bool}, tenant_id, '') AS tenant,
    toString(currency) AS currency,
    toString(pool_id) AS pool_id,
    toString(weight_basis) AS weight_basis,
    sum(requests) AS requests,
    toFloat64(sum(gpu_ms)) AS gpu_ms,
    toFloat64(sum(cost)) AS cost,
    toFloat64(sum(used_cost)) AS used_cost,
    max(estimated) AS estimated
FROM cost_allocation
WHERE period_start >= toDateTime({from:Date}, 'UTC') AND period_start < toDateTime({to:Date}, 'UTC')
GROUP BY day, model_id, feature_id, tenant, currency, pool_id, weight_basis
