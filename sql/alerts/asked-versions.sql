-- Model versions of the (day, alert key) pairs asked, with their requests:
-- names the version behind a GPU-ms per request change. The pairs arrive in
-- the request body as a table of their own (`asked`), as in asked-cpp.sql.
-- Read from cost_allocation (not cpp_daily) so a partial day counts the same
-- hours as its cells.
-- Parameters: asked Identifier (table: day Date, model_id String, feature_id String, tenant String, currency String), from Date, to Date, by_tenant Bool, hours UInt8 (as key-days.sql)
SELECT
    toString(toDate(period_start)) AS day,
    toString(model_id) AS model_id,
    toString(feature_id) AS feature_id,
    if({by_tenant:Bool}, tenant_id, '') AS tenant,
    toString(currency) AS currency,
    toString(model_version) AS version,
    sum(requests) AS total_requests
FROM cost_allocation
WHERE period_start >= toDateTime({from:Date}, 'UTC') AND period_start < toDateTime({to:Date}, 'UTC')
  AND ({hours:UInt8} >= 24 OR period_end <= toStartOfDay(period_start) + toIntervalHour({hours:UInt8}))
  AND (toDate(period_start), toString(model_id), toString(feature_id), if({by_tenant:Bool}, tenant_id, ''), toString(currency))
      IN (SELECT day, model_id, feature_id, tenant, currency FROM {asked:Identifier})
GROUP BY day, model_id, feature_id, tenant, currency, version
