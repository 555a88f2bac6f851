-- Utilisation and price of each pool per UTC day, to explain the idle and price factors.
-- price_per_gpu_hour = billed cost / capacity in GPU-hours (NULL when capacity is unknown).
-- Parameters: from Date, to Date, hours UInt8 (as key-days.sql)
SELECT
    toString(toDate(period_start)) AS day,
    toString(pool_id) AS pool_id,
    toString(currency) AS currency,
    toFloat64(sum(used_gpu_ms)) AS used_gpu_ms,
    if(countIf(capacity_gpu_ms IS NULL) > 0, NULL, toFloat64(sum(assumeNotNull(capacity_gpu_ms)))) AS capacity_gpu_ms,
    toFloat64(sum(billed_cost)) AS billed_cost
FROM pool_cost
WHERE period_start >= toDateTime({from:Date}, 'UTC') AND period_start < toDateTime({to:Date}, 'UTC') AND pool_id != ''
  AND ({hours:UInt8} >= 24 OR period_end <= toStartOfDay(period_start) + toIntervalHour({hours:UInt8}))
GROUP BY day, pool_id, currency
