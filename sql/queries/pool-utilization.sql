-- GPU utilisation and idle cost per pool over a date range.
-- Parameters: from Date, to Date (exclusive)
SELECT
    pool_id,
    currency,
    round(sum(billed_cost), 2) AS billed,
    round(sum(idle_cost), 2) AS idle,
    round(100 * sum(used_gpu_ms) / sum(capacity_gpu_ms), 1) AS utilization_pct,
    sum(requests) AS requests
FROM pool_cost
WHERE period_start >= {from:Date} AND period_start < {to:Date} AND pool_id != ''
GROUP BY pool_id, currency
ORDER BY billed DESC
SETTINGS prefer_column_name_to_alias = 1
