-- Attribution watermarks: per UTC day of [from, to), what the day's inputs are
-- now and whether they differ from what its last finished run recorded (owed).
-- A day's billing is every billing_current row whose charge period OVERLAPS
-- the day (a monthly fee counts on each day it covers, not only its first);
-- its requests are the raw rows whose ts falls in it, before merges (a late
-- request moves the count and usually the newest ingested_at; a merge that
-- collapses a racing duplicate only causes one identical recomputation).
-- A day without inputs is owed only when a run once attributed something to it.
-- Parameters: from DateTime (a UTC midnight), to DateTime (exclusive, a UTC midnight),
--             settings_hash String, only_owed Bool
SELECT
    toString(inputs.day) AS day,
    inputs.billing_rows AS billing_rows,
    toString(inputs.billing_version) AS billing_version,
    toString(inputs.billing_hash) AS billing_hash,
    inputs.requests AS requests,
    toString(inputs.requests_ingested_at) AS requests_ingested_at,
    last.ran = 1 AS attributed_before,
    toString(last.last_finished) AS last_finished_at,
    (last.ran = 0 AND (inputs.billing_rows > 0 OR inputs.requests > 0))
        OR (last.ran = 1 AND (inputs.billing_rows != last.last_billing_rows
            OR inputs.billing_hash != last.last_billing_hash
            OR inputs.billing_version != last.last_billing_version
            OR inputs.requests != last.last_requests
            OR inputs.requests_ingested_at != last.last_requests_ingested_at
            OR last.last_settings_hash != {settings_hash:String})) AS owed
FROM
(
    -- Aliases differ from the source columns: ClickHouse would read max(billing_version) AS billing_version as nested aggregates.
    SELECT
        day,
        sum(b_rows) AS billing_rows,
        max(b_version) AS billing_version,
        sum(b_hash) AS billing_hash,
        sum(r_rows) AS requests,
        max(r_ingested) AS requests_ingested_at
    FROM
    (
        SELECT
            day,
            count() AS b_rows,
            max(billing_version) AS b_version,
            sum(cityHash64(source, billing_account_id, billing_version, charge_period_start, charge_period_end,
                           pool_id, billing_currency, effective_cost, billed_cost, consumed_quantity)) AS b_hash,
            toUInt64(0) AS r_rows,
            toDateTime64(0, 3, 'UTC') AS r_ingested
        FROM billing_current
        ARRAY JOIN arrayMap(i -> toDate(charge_period_start) + i,
                            range(toUInt32(dateDiff('day', toDate(charge_period_start), toDate(charge_period_end - 1)) + 1))) AS day
        WHERE charge_period_start < {to:DateTime('UTC')} AND charge_period_end > {from:DateTime('UTC')}
        GROUP BY day

        UNION ALL

        SELECT toDate(ts) AS day, toUInt64(0), toDateTime64(0, 6, 'UTC'), toUInt64(0), count(), max(ingested_at)
        FROM inference_requests
        WHERE ts >= {from:DateTime('UTC')} AND ts < {to:DateTime('UTC')}
        GROUP BY day

        UNION ALL

        SELECT day, toUInt64(0), toDateTime64(0, 6, 'UTC'), toUInt64(0), toUInt64(0), toDateTime64(0, 3, 'UTC')
        FROM attribution_runs
        WHERE day >= toDate({from:DateTime('UTC')}) AND day < toDate({to:DateTime('UTC')})
        GROUP BY day
    )
    WHERE day >= toDate({from:DateTime('UTC')}) AND day < toDate({to:DateTime('UTC')})
    GROUP BY day
) AS inputs
LEFT JOIN
(
    SELECT
        day,
        toUInt8(1) AS ran,
        argMax(billing_rows, finished_at) AS last_billing_rows,
        argMax(billing_version, finished_at) AS last_billing_version,
        argMax(billing_hash, finished_at) AS last_billing_hash,
        argMax(requests, finished_at) AS last_requests,
        argMax(requests_ingested_at, finished_at) AS last_requests_ingested_at,
        argMax(settings_hash, finished_at) AS last_settings_hash,
        max(finished_at) AS last_finished
    FROM attribution_runs
    WHERE day >= toDate({from:DateTime('UTC')}) AND day < toDate({to:DateTime('UTC')})
    GROUP BY day
) AS last ON inputs.day = last.day
WHERE owed OR NOT {only_owed:Bool}
ORDER BY inputs.day
