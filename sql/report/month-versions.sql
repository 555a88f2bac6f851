-- Chargeback report, savings: each model version's month on one currency:
-- requests, GPU time and cost, so versions of a model compare on CPP and
-- GPU-ms per request.
-- Parameters: month_start DateTime, month_end DateTime
SELECT
    toString(model_id) AS model_id,
    toString(model_version) AS model_version,
    toString(currency) AS currency,
    sum(requests) AS requests,
    sum(gpu_ms) AS gpu_ms,
    sum(cost) AS cost,
    sum(used_cost) AS used_cost
FROM cost_allocation
WHERE period_start >= {month_start:DateTime('UTC')} AND period_start < {month_end:DateTime('UTC')}
GROUP BY model_id, model_version, currency
ORDER BY currency, model_id, model_version
SETTINGS prefer_column_name_to_alias = 1
