-- Raw rows of a day (before merges); for a day retention trimmed, the rows that arrived since.
-- Parameters: day_start DateTime, day_end DateTime
SELECT count() AS n
FROM inference_requests
WHERE ts >= {day_start:DateTime('UTC')} AND ts < {day_end:DateTime('UTC')}
