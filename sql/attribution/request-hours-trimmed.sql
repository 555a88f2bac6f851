-- Whether retention removed the day's raw requests (retention_days), what
-- its hourly groups held then, and what they hold now.
-- Parameters: day Date, day_start DateTime, day_end DateTime
SELECT
    (SELECT count() FROM retention_days WHERE day = {day:Date}) > 0 AS trimmed,
    (SELECT argMax(requests, trimmed_at) FROM retention_days WHERE day = {day:Date}) AS trimmed_requests,
    (SELECT argMax(group_rows, trimmed_at) FROM retention_days WHERE day = {day:Date}) AS trimmed_groups,
    (SELECT toString(toDate(max(trimmed_at))) FROM retention_days WHERE day = {day:Date}) AS trimmed_on,
    (SELECT sum(requests) FROM request_hours WHERE hour >= {day_start:DateTime('UTC')} AND hour < {day_end:DateTime('UTC')}) AS held_requests,
    (SELECT count() FROM request_hours WHERE hour >= {day_start:DateTime('UTC')} AND hour < {day_end:DateTime('UTC')}) AS held_groups
