-- Which hours of a UTC day the bill covers, per pool: what judging the day
-- before it is complete needs. A pool is expected when it was billed that
-- day or the day before (a pool whose bill lags has no row today at all);
-- `hours` lists the day's hours (0-23) its billing periods cover, empty when
-- none yet.
-- Parameters: day Date
SELECT
    toString(pool_id) AS pool_id,
    arraySort(arrayDistinct(arrayFlatten(groupArrayIf(
        range(
            toUInt32(greatest(0, dateDiff('hour', toDateTime({day:Date}, 'UTC'), period_start))),
            toUInt32(greatest(0, least(24, dateDiff('hour', toDateTime({day:Date}, 'UTC'), period_end))))),
        toDate(period_start) = {day:Date})))) AS hours
FROM pool_cost
WHERE period_start >= toDateTime({day:Date} - 1, 'UTC') AND period_start < toDateTime({day:Date} + 1, 'UTC') AND pool_id != ''
GROUP BY pool_id
ORDER BY pool_id
