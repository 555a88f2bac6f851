-- Which of a batch's request ids are already stored, so a replayed file or a
-- redelivered message is counted as a duplicate and not written again.
-- The ids arrive as one JSONCompactEachRow text parsed by the engine (far
-- cheaper than an Array parameter of the same ids); the hour range lets the
-- primary key skip everything outside the batch.
-- Parameters: ids String (JSONCompactEachRow, one ["id"] a line), from_hour DateTime, to_hour DateTime
SELECT DISTINCT request_id
FROM format(JSONCompactEachRow, 'request_id String', {ids:String})
WHERE request_id IN (
    SELECT request_id
    FROM inference_requests
    WHERE toStartOfHour(ts) >= {from_hour:DateTime('UTC')}
      AND toStartOfHour(ts) <= {to_hour:DateTime('UTC')}
)
