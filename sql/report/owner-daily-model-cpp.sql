-- Chargeback report, owner pack: one team's or tenant's daily cost and
-- requests per model and currency, for the daily CPP chart of its biggest
-- models (daily-model-cpp.sql sums every owner's traffic together).
-- Parameters: month_start Date, month_end Date, by String ('team' or 'tenant'), owner String
SELECT
    toString(day) AS day,
    toString(model_id) AS model_id,
    toString(currency) AS currency,
    sum(requests) AS requests,
    sum(cost) AS cost
FROM cpp_daily
WHERE day >= {month_start:Date} AND day < {month_end:Date}
    AND if({by:String} = 'tenant', tenant_id = {owner:String}, team = {owner:String})
GROUP BY day, model_id, currency
ORDER BY currency, model_id, day
SETTINGS prefer_column_name_to_alias = 1
