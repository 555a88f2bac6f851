-- Model versions of the (day, alert key) pairs asked, with their requests:
-- names the version behind a GPU-ms per request change. The pairs arrive in
-- the request body as a table of their own (`asked`), as in asked-cpp.sql.
-- Parameters: asked Identifier (table: day Date, model_id String, feature_id String, tenant String, currency String), from Date, to Date, by_tenant Bool
SELECT
    toString(day) AS day,
    toString(model_id) AS model_id,
    toString(feature_id) AS feature_id,
    if({by_tenant:Bool}, tenant_id, '') AS tenant,
    toString(currency) AS currency,
    toString(model_version) AS version,
    sum(requests) AS total_requests
FROM cpp_daily
WHERE day >= {from:Date} AND day < {to:Date}
  AND (day, toString(model_id), toString(feature_id), if({by_tenant:Bool}, tenant_id, ''), toString(currency))
      IN (SELECT day, model_id, feature_id, tenant, currency FROM {asked:Identifier})
GROUP BY day, model_id, feature_id, tenant, currency, version
SETTINGS prefer_column_name_to_alias = 1
