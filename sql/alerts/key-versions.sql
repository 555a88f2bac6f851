-- Model versions of one alert key on the given days: names the version behind a GPU-ms per request change.
-- Parameters: days Array(Date), model_id String, feature_id String, tenant String, by_tenant Bool, currency String
SELECT toString(day) AS day, toString(model_version) AS model_version, sum(requests) AS requests, toFloat64(sum(gpu_ms)) AS gpu_ms
FROM cpp_daily
WHERE day IN {days:Array(Date)} AND model_id = {model_id:String} AND feature_id = {feature_id:String}
  AND currency = {currency:String} AND (NOT {by_tenant:Bool} OR tenant_id = {tenant:String})
GROUP BY day, model_version
ORDER BY day, model_version
SETTINGS prefer_column_name_to_alias = 1
