-- Step 6: what share of the day's bill and traffic is attributed. Traffic in
-- an hour the bill covers (for any pool) but not for its own pool has an
-- unknown pool; traffic in an hour the bill does not cover yet is pending.
-- One row per currency of the day's bill ('' when there is no bill yet);
-- request counts repeat on each.
-- Parameters: traffic Identifier, hours Identifier, pools Identifier, day_start DateTime, day_end DateTime, attributed_at DateTime64(3)
WITH
    requests_of_day AS (
        SELECT
            sum(requests) AS total,
            sumIf(requests, (pool_id, hour) IN (SELECT pool_id, hour FROM {hours:Identifier} WHERE pool_id != '')) AS attributed,
            sumIf(requests, hour NOT IN (SELECT hour FROM {hours:Identifier})) AS pending
        FROM {traffic:Identifier}
        WHERE hour >= {day_start:DateTime('UTC')} AND hour < {day_end:DateTime('UTC')}
    ),
    cost_of_day AS (
        SELECT currency, sum(billed_cost) AS billed, sum(allocated_cost) AS allocated,
               sum(idle_cost) AS idle, sum(unallocated_cost) AS unallocated
        FROM {pools:Identifier}
        GROUP BY currency
        UNION ALL
        -- No bill for the day at all: still one row, for the requests.
        SELECT '', toDecimal128(0, 12), toDecimal128(0, 12), toDecimal128(0, 12), toDecimal128(0, 12)
        WHERE (SELECT count() FROM {pools:Identifier}) = 0
    )
SELECT
    toDate({day_start:DateTime('UTC')}) AS day,
    c.currency AS currency,
    c.billed AS billed_cost, c.allocated AS allocated_cost, c.idle AS idle_cost, c.unallocated AS unallocated_cost,
    r.total AS requests,
    r.attributed AS attributed_requests,
    r.pending AS pending_requests,
    r.total - r.attributed - r.pending AS unknown_pool_requests,
    {attributed_at:DateTime64(3, 'UTC')} AS attributed_at
FROM cost_of_day AS c
CROSS JOIN requests_of_day AS r
WHERE r.total > 0 OR c.currency != ''
