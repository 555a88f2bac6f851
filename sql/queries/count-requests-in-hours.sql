-- Rows stored in a range of hours; the primary key answers it from a few
-- granules. The request writer compares it with what it wrote itself to
-- decide whether a batch needs an id lookup at all.
-- Parameters: from_hour DateTime, to_hour DateTime
SELECT count() AS n
FROM inference_requests
WHERE toStartOfHour(ts) >= {from_hour:DateTime('UTC')}
  AND toStartOfHour(ts) <= {to_hour:DateTime('UTC')}
