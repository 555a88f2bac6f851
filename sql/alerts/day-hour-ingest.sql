-- When each hour of a UTC day last received a request: an hour whose
-- requests were stored after the day was last attributed is not in the
-- attribution tables yet.
-- Parameters: day Date
SELECT toUInt8(toHour(ts)) AS hour, toString(max(ingested_at)) AS last_ingested_at
FROM inference_requests
WHERE ts >= toDateTime64({day:Date}, 3, 'UTC') AND ts < toDateTime64({day:Date} + 1, 3, 'UTC')
GROUP BY hour
ORDER BY hour
