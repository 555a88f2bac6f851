-- The cells (pool, weight basis) of the (day, alert key) pairs asked, with
-- their requests, GPU time and both costs: what the factor decomposition of
-- an alert weighs, read only for the days alerts name. The pairs arrive in
-- the request body as a table of their own (`asked`), as in asked-cpp.sql.
-- Costs as Float64: ratios only.
-- Parameters: asked Identifier (table: day Date, model_id String, feature_id String, tenant String, currency String), from Date, to Date, by_tenant Bool, hours UInt8 (24: whole days; fewer: the first hours of each day, as key-days.sql)
SELECT
    toString(toDate(period_start)) AS day,
    toString(model_id) AS model_id,
    toString(feature_id) AS feature_id,
    if({by_tenant:Bool}, tenant_id, '') AS tenant,
    toString(currency) AS currency,
    toString(pool_id) AS pool_id,
    toString(weight_basis) AS weight_basis,
    toFloat64(sum(requests)) AS requests,
    toFloat64(sum(gpu_ms)) AS gpu_ms,
    toFloat64(sum(cost)) AS cost,
    toFloat64(sum(used_cost)) AS used_cost
FROM cost_allocation
WHERE period_start >= toDateTime({from:Date}, 'UTC') AND period_start < toDateTime({to:Date}, 'UTC')
  AND ({hours:UInt8} >= 24 OR period_end <= toStartOfDay(period_start) + toIntervalHour({hours:UInt8}))
  AND (toDate(period_start), toString(model_id), toString(feature_id), if({by_tenant:Bool}, tenant_id, ''), toString(currency))
      IN (SELECT day, model_id, feature_id, tenant, currency FROM {asked:Identifier})
GROUP BY day, model_id, feature_id, tenant, currency, pool_id, weight_basis
ORDER BY day, model_id, feature_id, tenant, currency, pool_id, weight_basis
