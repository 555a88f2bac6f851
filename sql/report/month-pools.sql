-- Chargeback report: where the month's bill went, per (pool, currency), from
-- pool_cost. billed = used + idle for tagged pools; untagged cost (pool '')
-- is unallocated. no_traffic_cost is the billed cost of the pool's hours
-- without any request (all idle; spread over the pool's month traffic under
-- the `spread` policy). peak_used_gpu_ms is the busiest hour's GPU time (what
-- right-sizing needs).
-- Parameters: month_start DateTime, month_end DateTime
SELECT
    toString(pool_id) AS pool_id,
    toString(currency) AS currency,
    sum(billed_cost) AS billed,
    sum(used_cost) AS used,
    sum(idle_cost) AS idle,
    sum(unallocated_cost) AS unallocated,
    sum(correction_cost) AS correction,
    sumIf(billed_cost, requests = 0) AS no_traffic_cost,
    sumIf(billed_cost, estimated) AS estimated_cost,
    count() AS hours,
    countIf(requests = 0) AS hours_without_traffic,
    sum(requests) AS requests,
    sum(used_gpu_ms) AS used_gpu_ms,
    if(countIf(capacity_gpu_ms IS NULL) > 0, NULL, sum(assumeNotNull(capacity_gpu_ms))) AS capacity_gpu_ms,
    max(used_gpu_ms) AS peak_used_gpu_ms,
    arraySort(groupUniqArrayIf(toString(weight_basis), weight_basis != '')) AS weight_bases,
    max(estimated) AS estimated
FROM pool_cost
WHERE period_start >= {month_start:DateTime('UTC')} AND period_start < {month_end:DateTime('UTC')}
GROUP BY pool_id, currency
ORDER BY currency, pool_id
SETTINGS prefer_column_name_to_alias = 1
