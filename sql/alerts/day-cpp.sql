-- Exact CPPs of every alert key on one day (Decimal division of the day's sums): what an alert stores.
-- Parameters: day Date, by_tenant Bool
SELECT
    model_id, feature_id, if({by_tenant:Bool}, tenant_id, '') AS tenant, toString(currency) AS currency,
    toString(if(sum(requests) = 0, toDecimal128(0, 12), sum(cost) / sum(requests))) AS loaded_cpp,
    toString(if(sum(requests) = 0, toDecimal128(0, 12), sum(used_cost) / sum(requests))) AS used_cpp
FROM cost_allocation
WHERE period_start >= toDateTime({day:Date}, 'UTC') AND period_start < toDateTime({day:Date}, 'UTC') + toIntervalDay(1)
GROUP BY model_id, feature_id, tenant, currency
