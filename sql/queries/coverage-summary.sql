-- The bill over a date range and where it went: attributed to traffic, idle
-- capacity, unallocated (untagged), and requests still waiting for a bill.
-- Parameters: from Date, to Date (exclusive)
SELECT
    currency,
    round(sum(billed_cost), 2) AS billed,
    round(sum(allocated_cost), 2) AS allocated,
    round(sum(idle_cost), 2) AS idle,
    round(sum(unallocated_cost), 2) AS unallocated,
    sum(requests) AS requests,
    sum(attributed_requests) AS attributed_requests,
    sum(pending_requests) AS pending_requests,
    sum(unknown_pool_requests) AS unknown_pool_requests
FROM coverage_daily
WHERE day >= {from:Date} AND day < {to:Date}
GROUP BY currency
ORDER BY currency
SETTINGS prefer_column_name_to_alias = 1
