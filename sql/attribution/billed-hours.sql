-- Step 2b: every billed (period, pool) as the hours it covers, so hourly
-- traffic meets hourly and daily billing periods alike. Includes untagged
-- cost (pool_id ''), which tells coverage that the bill for an hour has landed.
-- The bill (bill.sql) is already one row per hour: every line is spread over the hours it covers.
-- Parameters: bill Identifier
SELECT DISTINCT
    period_start,
    period_end,
    pool_id,
    arrayJoin(arrayMap(i -> period_start + toIntervalHour(i),
                       range(toUInt64(greatest(dateDiff('hour', period_start, period_end), 1))))) AS hour
FROM {bill:Identifier}
