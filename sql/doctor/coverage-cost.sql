-- The bill over the attributed hours of [from, to), per currency: billed,
-- unallocated (no pool tag) and estimated cost (Cost Explorer estimates),
-- and the estimated cost of months that closed before estimated_before
-- (by then Cost Explorer should have made them final). Exact decimal text.
-- Parameters: from DateTime, to DateTime (exclusive), estimated_before DateTime
SELECT
    toString(currency) AS currency_code,
    toString(sum(billed_cost)) AS billed_total,
    toString(sum(unallocated_cost)) AS unallocated_total,
    toString(sumIf(billed_cost, estimated)) AS estimated_total,
    toString(sumIf(billed_cost, estimated AND period_start < {estimated_before:DateTime('UTC')})) AS stale_estimated_total
FROM pool_cost
WHERE period_start >= {from:DateTime('UTC')} AND period_start < {to:DateTime('UTC')}
GROUP BY currency
ORDER BY currency
