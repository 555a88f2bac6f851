-- Freshness of attribution: the start of the earliest complete hour of [from, to)
-- with inputs (a bill or traffic) that the attributed tables do not reflect yet.
-- Every hour before it is fully attributed; none open: all of [from, to) is.
--
-- An hour with inputs is covered when the last finished run of its UTC day
-- (attribution_runs) used the current settings, saw the day's billing as it
-- is now (rows, newest version and fingerprint of billing_current overlapping
-- the day, exactly as sql/jobs/attribution-inputs.sql reads them: a bill
-- restates whole days, so a changed bill opens the whole day from its first
-- input hour), and saw every request row of the hour: none ingested after the
-- newest ingested_at the run recorded. A row stored after the run with an
-- older ingested_at (a batch taken earlier, written later) cannot be told by
-- hour, so a day holding more rows at or before that ingested_at than the run
-- counted is open from its first input hour too. Days without a run are open
-- from their first input hour.
-- Parameters: from DateTime (a UTC midnight), to DateTime (exclusive, the start
--             of the current hour: only complete hours are judged), settings_hash String
SELECT
    countIf(open_hour < {to:DateTime('UTC')}) AS open_days,
    toString(minIf(open_hour, open_hour < {to:DateTime('UTC')})) AS first_open
FROM
(
    SELECT
        (runs.ran = 1
            AND runs.last_settings_hash = {settings_hash:String}
            AND days.billing_rows = runs.last_billing_rows
            AND days.billing_version = runs.last_billing_version
            AND days.billing_hash = runs.last_billing_hash
            AND days.seen_requests <= runs.last_requests) AS day_current,
        if(day_current, days.first_unseen, least(days.first_billed, days.first_request)) AS open_hour
    FROM
    (
        -- Aliases differ from the source columns: ClickHouse would read max(billing_version) AS billing_version as nested aggregates.
        SELECT
            day,
            sum(b_rows) AS billing_rows,
            max(b_version) AS billing_version,
            sum(b_hash) AS billing_hash,
            min(b_first) AS first_billed,
            sum(r_seen) AS seen_requests,
            min(r_first) AS first_request,
            min(r_first_unseen) AS first_unseen
        FROM
        (
            SELECT
                day,
                count() AS b_rows,
                max(billing_version) AS b_version,
                sum(cityHash64(source, billing_account_id, billing_version, charge_period_start, charge_period_end,
                               pool_id, billing_currency, effective_cost, billed_cost, consumed_quantity)) AS b_hash,
                toStartOfHour(min(greatest(charge_period_start, toDateTime(day, 'UTC')))) AS b_first,
                toUInt64(0) AS r_seen,
                {to:DateTime('UTC')} AS r_first,
                {to:DateTime('UTC')} AS r_first_unseen
            FROM billing_current
            ARRAY JOIN arrayMap(i -> toDate(charge_period_start) + i,
                                range(toUInt32(dateDiff('day', toDate(charge_period_start), toDate(charge_period_end - 1)) + 1))) AS day
            -- Whole days, as the runs read them: a line later today counts for today too.
            WHERE charge_period_start < toDateTime(toDate({to:DateTime('UTC')}), 'UTC') + INTERVAL 1 DAY
              AND charge_period_end > {from:DateTime('UTC')}
            GROUP BY day

            UNION ALL

            -- Whole days, the current one included: the day's rows are what its run counted.
            -- Hours are judged by the runs' own watermark: the newest ingested_at each day's last run saw.
            SELECT
                toDate(r.ts) AS day,
                toUInt64(0),
                toDateTime64(0, 6, 'UTC'),
                toUInt64(0),
                {to:DateTime('UTC')},
                countIf(r.ingested_at <= w.last_requests_ingested_at),
                toDateTime(toStartOfHour(min(r.ts)), 'UTC'),
                if(countIf(r.ingested_at > w.last_requests_ingested_at) = 0, {to:DateTime('UTC')},
                   toDateTime(toStartOfHour(minIf(r.ts, r.ingested_at > w.last_requests_ingested_at)), 'UTC'))
            FROM inference_requests AS r
            LEFT JOIN
            (
                SELECT day, argMax(requests_ingested_at, finished_at) AS last_requests_ingested_at
                FROM attribution_runs
                WHERE day >= toDate({from:DateTime('UTC')}) AND day <= toDate({to:DateTime('UTC')})
                GROUP BY day
            ) AS w ON toDate(r.ts) = w.day
            WHERE r.ts >= {from:DateTime('UTC')} AND r.ts < toDateTime(toDate({to:DateTime('UTC')}), 'UTC') + INTERVAL 1 DAY
            GROUP BY day
        )
        WHERE day >= toDate({from:DateTime('UTC')}) AND day <= toDate({to:DateTime('UTC')})
        GROUP BY day
    ) AS days
    LEFT JOIN
    (
        SELECT
            day,
            toUInt8(1) AS ran,
            argMax(billing_rows, finished_at) AS last_billing_rows,
            argMax(billing_version, finished_at) AS last_billing_version,
            argMax(billing_hash, finished_at) AS last_billing_hash,
            argMax(requests, finished_at) AS last_requests,
            argMax(settings_hash, finished_at) AS last_settings_hash
        FROM attribution_runs
        WHERE day >= toDate({from:DateTime('UTC')}) AND day <= toDate({to:DateTime('UTC')})
        GROUP BY day
    ) AS runs ON days.day = runs.day
)
