-- Chargeback report: the month's attribution coverage. Requests still
-- waiting for their bill (pending) or of pools the bill does not know keep a
-- month from being final; days attributed say whether the month is complete.
-- Parameters: month_start Date, month_end Date
SELECT
    uniqExact(day) AS days_attributed,
    sum(pending_requests) AS pending_requests,
    sum(unknown_pool_requests) AS unknown_pool_requests
FROM
(
    -- Request counts repeat on each currency's row of a day: take them once.
    SELECT day, max(pending_requests) AS pending_requests, max(unknown_pool_requests) AS unknown_pool_requests
    FROM coverage_daily
    WHERE day >= {month_start:Date} AND day < {month_end:Date}
    GROUP BY day
)
