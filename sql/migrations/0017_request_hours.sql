-- Traffic kept as hourly groups, and retention of the raw rows.
--
-- request_hours: the deduplicated requests (inference_requests FINAL) summed
-- per UTC hour, pool and group (model, version, feature, tenant, the event's
-- team), exactly as attribution groups them; the team mappings of the
-- configuration are applied when attribution reads them, as for raw rows.
-- Attribution reads its traffic from here. A day's groups are rebuilt from the
-- raw rows of the hours that changed, at the start of attributing the day, and
-- swapped in whole (REPLACE PARTITION); once retention has removed the raw
-- rows of a day, its groups are what remains of its traffic, kept forever.
--
-- Each row also carries what its hour's groups were built from (the raw rows'
-- count, a fingerprint of their ingested_at, the newest mutation of the
-- table) and the hour's total: a changed hour, or groups half-written or
-- written twice, are told apart without reading the raw rows FINAL.
--
-- PARTITION BY day, like the attribution tables: a day is swapped in whole.
CREATE TABLE IF NOT EXISTS request_hours
(
    hour               DateTime('UTC')          COMMENT 'Start of the UTC hour the requests started in (toStartOfHour(ts))',
    pool_id            LowCardinality(String)   COMMENT 'GPU pool that served them',
    model_id           LowCardinality(String)   COMMENT 'Model',
    model_version      LowCardinality(String)   COMMENT 'Model version; empty when the events had none',
    feature_id         LowCardinality(String)   COMMENT 'Product feature',
    tenant_id          String                   COMMENT 'Tenant / customer',
    team               LowCardinality(String)   COMMENT 'Team from the events; empty when they had none (attribution maps it from the configuration, as for raw rows)',
    requests           UInt64                   COMMENT 'Requests of the group, each request_id once (as inference_requests FINAL counts them)',
    input_tokens       UInt64                   COMMENT 'Input tokens of those requests',
    output_tokens      UInt64                   COMMENT 'Output tokens of those requests',
    gpu_ms             Decimal(38, 3)           COMMENT 'GPU milliseconds of those requests, exact',
    hour_requests      UInt64                   COMMENT 'Requests of all the groups of the hour when they were built: the groups of an hour sum to it, or they are incomplete',
    source_rows        UInt64                   COMMENT 'Rows of inference_requests in the hour (before merges) the groups were built from',
    source_fingerprint UInt64                   COMMENT 'Sum (modulo 2^64) of the ingested_at milliseconds of those rows: with source_rows, tells that the hour changed since',
    source_mutation    UInt64                   COMMENT 'Number of the newest finished mutation of inference_requests (ALTER TABLE ... UPDATE or DELETE) then: a newer one may have changed rows without changing their count',
    built_at           DateTime64(3, 'UTC')     COMMENT 'When the hour''s groups were built'
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(hour)
ORDER BY (hour, pool_id, model_id, feature_id, tenant_id, model_version, team);

-- Days whose raw requests retention removed, with what their groups held
-- then: such a day is attributed from its groups only, and refused when they
-- no longer hold it. A day without a row here never lost raw rows to retention.
CREATE TABLE IF NOT EXISTS retention_days
(
    day          Date                   COMMENT 'UTC day whose raw requests (inference_requests) retention removed',
    requests     UInt64                 COMMENT 'Requests its hourly groups (request_hours) held, equal to the deduplicated raw count: what they must still hold for the day to be attributed',
    group_rows   UInt64                 COMMENT 'Rows of request_hours of the day then',
    raw_rows     UInt64                 COMMENT 'Rows of inference_requests of the day removed (before merges)',
    trimmed_at   DateTime64(3, 'UTC')   COMMENT 'When its raw rows were removed'
)
ENGINE = ReplacingMergeTree(trimmed_at)
ORDER BY day;

-- One row per table per `retention apply` (or run of the retention job): the horizon applied and what went.
CREATE TABLE IF NOT EXISTS retention_runs
(
    applied_at          DateTime64(3, 'UTC')    COMMENT 'When retention was applied',
    table_name          LowCardinality(String)  COMMENT 'inference_requests or ingest_rejects',
    keep_days           UInt32                  COMMENT 'Days kept, from the configuration (retention.requestDays or retention.rejectDays)',
    horizon             Date                    COMMENT 'Rows of days before this one may go: the UTC day of the run minus keep_days',
    kept_from           Date                    COMMENT 'Whole months are dropped: every month before this day (the first of the horizon''s month) is gone, except those in refused',
    dropped_partitions  Array(String)           COMMENT 'Partitions (months, YYYYMM) dropped by this run',
    dropped_rows        UInt64                  COMMENT 'Rows they held (before merges)',
    refused             Array(String)           COMMENT 'Partitions older than the horizon kept, each with why (e.g. a day whose hourly groups do not match its raw rows)',
    job_id              String                  COMMENT 'BullMQ job id of the run; empty for inferledger retention apply'
)
ENGINE = MergeTree
ORDER BY (table_name, applied_at);

-- Upgrade: the groups of the requests already stored. Days that already have
-- groups are left alone; an hour written only in part (a crash) is found
-- incomplete by its hour_requests and rebuilt when its day is next attributed.
INSERT INTO request_hours
SELECT
    g.hour AS hour, g.pool_id, g.model_id, g.model_version, g.feature_id, g.tenant_id, g.team,
    g.requests, g.input_tokens, g.output_tokens, g.gpu_ms,
    sum(g.requests) OVER (PARTITION BY g.hour) AS hour_requests,
    s.source_rows AS source_rows, s.source_fingerprint AS source_fingerprint,
    (SELECT max(toUInt64OrZero(extract(mutation_id, '(\\d+)'))) FROM system.mutations
     WHERE database = currentDatabase() AND table = 'inference_requests' AND is_done) AS source_mutation,
    now64(3) AS built_at
FROM
(
    SELECT
        toStartOfHour(ts) AS hour, pool_id, model_id, model_version, feature_id, tenant_id, team,
        count() AS requests, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(gpu_ms) AS gpu_ms
    FROM inference_requests FINAL
    WHERE toDate(ts) NOT IN (SELECT DISTINCT toDate(hour) FROM request_hours)
    GROUP BY hour, pool_id, model_id, model_version, feature_id, tenant_id, team
) AS g
INNER JOIN
(
    SELECT toStartOfHour(ts) AS hour, count() AS source_rows, sum(toUInt64(toUnixTimestamp64Milli(ingested_at))) AS source_fingerprint
    FROM inference_requests
    WHERE toDate(ts) NOT IN (SELECT DISTINCT toDate(hour) FROM request_hours)
    GROUP BY hour
) AS s ON g.hour = s.hour;
