-- The UTC days of [from, to) (a month) that have raw requests, hourly groups
-- or a retention record: the days whose groups retention makes current and
-- checks before the month goes (the others have nothing to keep). No FINAL.
-- Parameters: from DateTime, to DateTime
SELECT DISTINCT toString(day) AS day
FROM
(
    SELECT DISTINCT toDate(ts) AS day FROM inference_requests WHERE ts >= {from:DateTime('UTC')} AND ts < {to:DateTime('UTC')}
    UNION ALL
    SELECT DISTINCT toDate(hour) FROM request_hours WHERE hour >= {from:DateTime('UTC')} AND hour < {to:DateTime('UTC')}
    UNION ALL
    SELECT DISTINCT day FROM retention_days WHERE day >= toDate({from:DateTime('UTC')}) AND day < toDate({to:DateTime('UTC')})
)
ORDER BY day
