-- Exact CPPs (Decimal division of the day's sums) of the (day, alert key)
-- pairs asked: what an alert stores. Only the pairs alerts need, not every
-- key of a day. The pairs arrive in the request body as a table of their own
-- (`asked`: external data on a server, a temporary table on chDB), never in
-- the URL; [from, to) spans their days so the primary key skips the rest.
-- Parameters: asked Identifier (table: day Date, model_id String, feature_id String, tenant String, currency String), from Date, to Date, by_tenant Bool, hours UInt8 (24: whole days; fewer: the first hours of each day, as key-days.sql)
SELECT
    toString(toDate(period_start)) AS day,
    toString(model_id) AS model_id,
    toString(feature_id) AS feature_id,
    if({by_tenant:Bool}, tenant_id, '') AS tenant,
    toString(currency) AS currency,
    toString(if(sum(requests) = 0, toDecimal128(0, 12), sum(cost) / sum(requests))) AS loaded_cpp,
    toString(if(sum(requests) = 0, toDecimal128(0, 12), sum(used_cost) / sum(requests))) AS used_cpp
FROM cost_allocation
WHERE period_start >= toDateTime({from:Date}, 'UTC') AND period_start < toDateTime({to:Date}, 'UTC')
  AND ({hours:UInt8} >= 24 OR period_end <= toStartOfDay(period_start) + toIntervalHour({hours:UInt8}))
  AND (toDate(period_start), toString(model_id), toString(feature_id), if({by_tenant:Bool}, tenant_id, ''), toString(currency))
      IN (SELECT day, model_id, feature_id, tenant, currency FROM {asked:Identifier})
GROUP BY day, model_id, feature_id, tenant, currency
