-- Chargeback report: daily cost and requests per model and currency, for the
-- daily CPP chart of the biggest models.
-- Parameters: month_start Date, month_end Date
SELECT
    toString(day) AS day,
    toString(model_id) AS model_id,
    toString(currency) AS currency,
    sum(requests) AS requests,
    sum(cost) AS cost
FROM cpp_daily
WHERE day >= {month_start:Date} AND day < {month_end:Date}
GROUP BY day, model_id, currency
ORDER BY currency, model_id, day
SETTINGS prefer_column_name_to_alias = 1
