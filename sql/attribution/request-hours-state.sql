-- Before a day is attributed: each hour of the day with raw rows or hourly
-- groups, and whether its groups (request_hours) are current. Groups are
-- current when all rows of the hour come from one build (same hour_requests,
-- source_rows, source_fingerprint, source_mutation, built_at), sum to that
-- build's hour_requests (not half-written, not written twice), the raw rows
-- of the hour (before merges) still have the count and ingested_at
-- fingerprint they were built from, and no mutation of the table (ALTER
-- TABLE ... UPDATE, which changes rows in place) finished since. Cheap: no
-- FINAL, only ts and ingested_at of the raw rows. A merge that collapses a
-- duplicate changes the count: the hour is rebuilt, to identical groups.
-- Parameters: day_start DateTime, day_end DateTime
WITH
    (SELECT max(toUInt64OrZero(extract(mutation_id, '(\\d+)'))) FROM system.mutations
     WHERE database = currentDatabase() AND table = 'inference_requests' AND is_done) AS mutation
SELECT
    toString(hour) AS hour,
    raw_rows,
    raw_fingerprint,
    mutation,
    kept_groups,
    kept_builds = 1 AND kept_requests = kept_hour_requests AS consistent,
    kept_builds = 1 AND kept_requests = kept_hour_requests
        AND kept_source_rows = raw_rows AND kept_source_fingerprint = raw_fingerprint
        AND kept_source_mutation = mutation AS current
FROM
(
    SELECT
        hour,
        sum(r_rows) AS raw_rows,
        sum(r_fingerprint) AS raw_fingerprint,
        sum(k_groups) AS kept_groups,
        sum(k_requests) AS kept_requests,
        sum(k_builds) AS kept_builds,
        sum(k_hour_requests) AS kept_hour_requests,
        sum(k_source_rows) AS kept_source_rows,
        sum(k_source_fingerprint) AS kept_source_fingerprint,
        sum(k_source_mutation) AS kept_source_mutation
    FROM
    (
        SELECT
            toStartOfHour(ts) AS hour,
            count() AS r_rows,
            sum(toUInt64(toUnixTimestamp64Milli(ingested_at))) AS r_fingerprint,
            toUInt64(0) AS k_groups, toUInt64(0) AS k_requests, toUInt64(0) AS k_builds,
            toUInt64(0) AS k_hour_requests, toUInt64(0) AS k_source_rows, toUInt64(0) AS k_source_fingerprint,
            toUInt64(0) AS k_source_mutation
        FROM inference_requests
        WHERE ts >= {day_start:DateTime('UTC')} AND ts < {day_end:DateTime('UTC')}
        GROUP BY hour

        UNION ALL

        SELECT
            hour, toUInt64(0), toUInt64(0),
            count(), sum(requests), uniqExact(hour_requests, source_rows, source_fingerprint, source_mutation, built_at),
            any(hour_requests), any(source_rows), any(source_fingerprint), any(source_mutation)
        FROM request_hours
        WHERE hour >= {day_start:DateTime('UTC')} AND hour < {day_end:DateTime('UTC')}
        GROUP BY hour
    )
    GROUP BY hour
)
ORDER BY hour
