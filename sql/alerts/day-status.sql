-- Is each UTC day complete enough to alert on? Per day: requests still
-- pending their bill, the fewest hours of the day the bill covers for any
-- billed pool, whether any of it is an estimate, when the day was last
-- attributed (a restatement re-attributes it), and when its last request
-- was ingested (traffic still arriving).
-- Parameters: from Date, to Date
WITH
    coverage AS (
        SELECT day, max(requests) AS requests, max(pending_requests) AS pending, max(attributed_at) AS attributed_at
        FROM coverage_daily
        WHERE day >= {from:Date} AND day < {to:Date}
        GROUP BY day
    ),
    billed_hours AS (
        SELECT day, min(hours) AS min_hours, max(estimated) AS estimated
        FROM
        (
            SELECT
                toDate(period_start) AS day,
                pool_id,
                length(arrayDistinct(arrayFlatten(groupArray(range(
                    toUInt32(dateDiff('hour', toDateTime(toDate(period_start), 'UTC'), period_start)),
                    toUInt32(least(24, dateDiff('hour', toDateTime(toDate(period_start), 'UTC'), period_end)))))))) AS hours,
                max(estimated) AS estimated
            FROM pool_cost
            WHERE period_start >= toDateTime({from:Date}, 'UTC') AND period_start < toDateTime({to:Date}, 'UTC') AND pool_id != ''
            GROUP BY day, pool_id
        )
        GROUP BY day
    ),
    ingested AS (
        SELECT toDate(ts) AS day, max(ingested_at) AS last_ingested_at
        FROM inference_requests
        WHERE ts >= toDateTime64({from:Date}, 3, 'UTC') AND ts < toDateTime64({to:Date}, 3, 'UTC')
        GROUP BY day
    )
SELECT
    toString(c.day) AS day,
    c.requests AS requests,
    c.pending AS pending_requests,
    coalesce(b.min_hours, 0) AS min_billed_hours,
    coalesce(b.estimated, false) AS estimated,
    toString(c.attributed_at) AS attributed_at,
    if(i.last_ingested_at IS NULL, NULL, toString(i.last_ingested_at)) AS last_ingested_at
FROM coverage AS c
LEFT JOIN billed_hours AS b ON b.day = c.day
LEFT JOIN ingested AS i ON i.day = c.day
ORDER BY c.day
SETTINGS join_use_nulls = 1
