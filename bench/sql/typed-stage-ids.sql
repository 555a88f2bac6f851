-- bench/ingest-engine-parts, step 2: what the request writer needs back to find duplicates: each valid line's
-- number, id and event hour.
SELECT n, request_id, toInt32(intDiv(toUnixTimestamp64Milli(ts), 3600000)) AS hour
FROM typed_stage
WHERE ok
