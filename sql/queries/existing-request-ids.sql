-- Which of a batch's request ids are already stored, so a replayed file or a
-- redelivered message is counted as a duplicate and not written again.
-- The hour range lets the primary key skip everything outside the batch.
-- Parameters: from_hour DateTime, to_hour DateTime, ids Array(String)
SELECT DISTINCT request_id
FROM inference_requests
WHERE toStartOfHour(ts) >= {from_hour:DateTime('UTC')}
  AND toStartOfHour(ts) <= {to_hour:DateTime('UTC')}
  AND request_id IN {ids:Array(String)}
