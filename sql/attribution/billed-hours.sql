-- Step 2b: every billed (period, pool) as the hours it covers, so hourly
-- traffic meets hourly and daily billing periods alike. Includes untagged
-- cost (pool_id ''), which tells coverage that the bill for an hour has landed.
-- Charge periods are whole hours (hourly or daily), as Cost Explorer and FOCUS exports give them.
-- Parameters: bill Identifier
SELECT DISTINCT
    period_start,
    period_end,
    pool_id,
    arrayJoin(arrayMap(i -> period_start + toIntervalHour(i),
                       range(toUInt64(greatest(dateDiff('hour', period_start, period_end), 1))))) AS hour
FROM {bill:Identifier}
