-- Before retention drops a month of raw requests: per UTC day of [from, to)
-- that has raw rows, hourly groups or a retention record, the raw rows
-- (before merges), the requests they hold (deduplicated, FINAL: what the
-- groups must hold), what the groups (request_hours) hold, and what they
-- held when retention trimmed the day, if it did.
-- Parameters: from DateTime, to DateTime
SELECT
    toString(day) AS day,
    sum(raw_rows) AS raw_rows,
    sum(raw_requests) AS raw_requests,
    sum(kept_requests) AS kept_requests,
    sum(kept_groups) AS kept_groups,
    max(trimmed) AS trimmed
FROM
(
    SELECT toDate(ts) AS day, count() AS raw_rows, toUInt64(0) AS raw_requests,
           toUInt64(0) AS kept_requests, toUInt64(0) AS kept_groups, toUInt8(0) AS trimmed
    FROM inference_requests
    WHERE ts >= {from:DateTime('UTC')} AND ts < {to:DateTime('UTC')}
    GROUP BY day

    UNION ALL

    SELECT toDate(ts), toUInt64(0), count(), toUInt64(0), toUInt64(0), toUInt8(0)
    FROM inference_requests FINAL
    WHERE ts >= {from:DateTime('UTC')} AND ts < {to:DateTime('UTC')}
    GROUP BY toDate(ts)

    UNION ALL

    SELECT toDate(hour), toUInt64(0), toUInt64(0), sum(requests), count(), toUInt8(0)
    FROM request_hours
    WHERE hour >= {from:DateTime('UTC')} AND hour < {to:DateTime('UTC')}
    GROUP BY toDate(hour)

    UNION ALL

    SELECT day, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0), toUInt8(1)
    FROM retention_days
    WHERE day >= toDate({from:DateTime('UTC')}) AND day < toDate({to:DateTime('UTC')})
    GROUP BY day
)
GROUP BY day
ORDER BY day
