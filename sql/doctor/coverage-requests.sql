-- Requests over the attributed days of [from, to) and how many wait: for
-- their bill (pending; late when on a day before pending_before) or on a pool
-- the bill does not know. coverage_daily repeats the request counts on each
-- currency's row of a day, so a day is counted once (max).
-- Parameters: from Date, to Date (exclusive), pending_before Date
SELECT
    count() AS days,
    sum(day_requests) AS requests,
    sum(day_pending) AS pending,
    sumIf(day_pending, day < {pending_before:Date}) AS late_pending,
    if(countIf(day_pending > 0) = 0, '', toString(minIf(day, day_pending > 0))) AS first_pending_day,
    sum(day_unknown) AS unknown_pool
FROM
(
    SELECT day, max(requests) AS day_requests, max(pending_requests) AS day_pending, max(unknown_pool_requests) AS day_unknown
    FROM coverage_daily
    WHERE day >= {from:Date} AND day < {to:Date}
    GROUP BY day
)
