-- Months the scheduled chargeback report looks at, in [from, to): each month
-- with attributed billing in pool_cost, whether it is still estimated and
-- the packs already recorded for it. A month is final when none of its
-- billed cost is an estimate (per currency, as the report sums it) and no
-- request of it waits for its bill; only months that are over are asked for.
-- A month without coverage or recorded packs joins to 0 and [] (the join's defaults).
-- Parameters: from Date, to Date (exclusive; first days of months)
WITH
    pools AS (
        SELECT month, countIf(estimated_cost != 0) AS estimated_currencies, max(attributed_at) AS attributed_at
        FROM
        (
            SELECT toStartOfMonth(toDate(period_start)) AS month, currency, sumIf(billed_cost, estimated) AS estimated_cost, max(attributed_at) AS attributed_at
            FROM pool_cost
            WHERE period_start >= toDateTime({from:Date}, 'UTC') AND period_start < toDateTime({to:Date}, 'UTC')
            GROUP BY month, currency
        )
        GROUP BY month
    ),
    coverage AS (
        -- Request counts repeat on each currency's row of a day: take them once.
        SELECT toStartOfMonth(day) AS month, sum(pending) AS pending_requests
        FROM
        (
            SELECT day, max(pending_requests) AS pending
            FROM coverage_daily
            WHERE day >= {from:Date} AND day < {to:Date}
            GROUP BY day
        )
        GROUP BY month
    ),
    built AS (
        SELECT month, groupUniqArray(concat(report_by, '/', idle_policy, '/', basis, '/', status)) AS packs
        FROM report_runs
        WHERE month >= {from:Date} AND month < {to:Date}
        GROUP BY month
    )
SELECT
    toString(p.month) AS month,
    toBool(p.estimated_currencies > 0 OR c.pending_requests > 0) AS estimated,
    toString(p.attributed_at) AS attributed_at,
    arraySort(b.packs) AS built
FROM pools AS p
LEFT JOIN coverage AS c ON c.month = p.month
LEFT JOIN built AS b ON b.month = p.month
ORDER BY p.month
