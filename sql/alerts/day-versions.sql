-- Model versions of every alert key on one day: names the version behind a GPU-ms per request change.
-- Parameters: day Date, by_tenant Bool
SELECT
    model_id, feature_id, if({by_tenant:Bool}, tenant_id, '') AS tenant, toString(currency) AS currency,
    toString(model_version) AS version, sum(requests) AS total_requests
FROM cpp_daily
WHERE day = {day:Date}
GROUP BY model_id, feature_id, tenant, currency, version
