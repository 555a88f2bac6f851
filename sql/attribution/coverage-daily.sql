-- Step 6: what share of the day's bill and traffic is attributed. Traffic in
-- an hour the bill covers (for any pool) but not for its own pool has an
-- unknown pool; traffic in an hour the bill does not cover yet is pending.
-- One row per currency of the day's bill ('' when there is no bill yet);
-- request counts repeat on each.
-- Source precedence made visible: `sources` are the billing sources counted
-- in the day; superseded_cost is Cost Explorer cost of the day left out
-- because an export of record covers the account and day (the day's share
-- of each line, split like bill.sql splits it over its hours).
-- Parameters: traffic Identifier, hours Identifier, pools Identifier, bill Identifier, cost_basis String,
--             day_start DateTime, day_end DateTime, attributed_at DateTime64(3)
WITH
    requests_of_day AS (
        SELECT
            sum(requests) AS total,
            sumIf(requests, (pool_id, hour) IN (SELECT pool_id, hour FROM {hours:Identifier} WHERE pool_id != '')) AS attributed,
            sumIf(requests, hour NOT IN (SELECT hour FROM {hours:Identifier})) AS pending
        FROM {traffic:Identifier}
        WHERE hour >= {day_start:DateTime('UTC')} AND hour < {day_end:DateTime('UTC')}
    ),
    superseded_of_day AS (
        SELECT currency, reinterpret(toInt128(sum(day_units)), 'Decimal(38, 12)') AS superseded
        FROM
        (
            SELECT
                toString(billing_currency) AS currency,
                greatest(dateDiff('hour', charge_period_start, charge_period_end), 1) AS n,
                greatest(dateDiff('hour', charge_period_start, {day_start:DateTime('UTC')}), 0) AS lo,
                greatest(least(n, dateDiff('hour', charge_period_start, {day_end:DateTime('UTC')})), 0) AS hi,
                reinterpretAsInt128(if({cost_basis:String} = 'billed', billed_cost, effective_cost)) AS units,
                abs(units) AS a,
                -- Hours lo..hi-1 of the line: intDiv(a, n) each, plus one for those below a mod n.
                if(units < 0, -1, 1) * ((hi - lo) * intDiv(a, n) + greatest(least(hi, toInt64(a % n)) - lo, 0)) AS day_units
            FROM billing_current_by_source
            WHERE superseded AND charge_period_start < {day_end:DateTime('UTC')} AND charge_period_end > {day_start:DateTime('UTC')}
        )
        GROUP BY currency
    ),
    currencies AS (
        SELECT DISTINCT currency FROM
        (
            SELECT toString(currency) AS currency FROM {pools:Identifier}
            UNION ALL
            SELECT currency FROM superseded_of_day
        )
    ),
    cost_of_day AS (
        SELECT
            cur.currency AS currency,
            coalesce(p.billed, toDecimal128(0, 12)) AS billed, coalesce(p.allocated, toDecimal128(0, 12)) AS allocated,
            coalesce(p.idle, toDecimal128(0, 12)) AS idle, coalesce(p.unallocated, toDecimal128(0, 12)) AS unallocated,
            coalesce(p.correction, toDecimal128(0, 12)) AS correction,
            coalesce(s.superseded, toDecimal128(0, 12)) AS superseded,
            coalesce(b.sources, []) AS sources
        FROM currencies AS cur
        LEFT JOIN
        (
            SELECT toString(currency) AS currency, sum(billed_cost) AS billed, sum(allocated_cost) AS allocated,
                   sum(idle_cost) AS idle, sum(unallocated_cost) AS unallocated, sum(correction_cost) AS correction
            FROM {pools:Identifier}
            GROUP BY currency
        ) AS p ON p.currency = cur.currency
        LEFT JOIN superseded_of_day AS s ON s.currency = cur.currency
        LEFT JOIN
        (
            SELECT toString(currency) AS currency, arraySort(arrayDistinct(arrayFlatten(groupArray(sources)))) AS sources
            FROM {bill:Identifier}
            GROUP BY currency
        ) AS b ON b.currency = cur.currency
        UNION ALL
        -- No bill for the day at all: still one row, for the requests.
        SELECT '', toDecimal128(0, 12), toDecimal128(0, 12), toDecimal128(0, 12), toDecimal128(0, 12), toDecimal128(0, 12), toDecimal128(0, 12), CAST([] AS Array(String))
        WHERE (SELECT count() FROM currencies) = 0
    )
SELECT
    toDate({day_start:DateTime('UTC')}) AS day,
    c.currency AS currency,
    c.billed AS billed_cost, c.allocated AS allocated_cost, c.idle AS idle_cost, c.unallocated AS unallocated_cost,
    c.correction AS correction_cost, c.superseded AS superseded_cost, c.sources AS sources,
    r.total AS requests,
    r.attributed AS attributed_requests,
    r.pending AS pending_requests,
    r.total - r.attributed - r.pending AS unknown_pool_requests,
    {attributed_at:DateTime64(3, 'UTC')} AS attributed_at
FROM cost_of_day AS c
CROSS JOIN requests_of_day AS r
WHERE r.total > 0 OR c.currency != ''
SETTINGS join_use_nulls = 1
