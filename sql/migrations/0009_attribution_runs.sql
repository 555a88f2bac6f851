-- Watermarks of the scheduled attribution: one row per finished run of a UTC
-- day, with what its inputs looked like when the run started. A day is owed
-- when its inputs now differ from what its last finished run recorded (a new
-- billing version overlapping it, requests that arrived after it, other
-- attribution settings), so the scheduler recomputes exactly the days that
-- changed, after any downtime, without a trigger having to fire.
--
-- MergeTree ordered by (day, finished_at): the owed-days query reads the last
-- run per day with argMax over a handful of rows; history is kept for audit
-- (the current day gets one row per hourly run) and expires after 400 days.
CREATE TABLE IF NOT EXISTS attribution_runs
(
    day                  Date                   COMMENT 'UTC day attributed',
    billing_rows         UInt64                 COMMENT 'Rows of billing_current whose charge period overlaps the day, when the run started',
    billing_version      DateTime64(6, 'UTC')   COMMENT 'Newest billing_version among those rows',
    billing_hash         UInt64                 COMMENT 'Order-independent fingerprint (sum of row hashes) of those rows: source, account, version, period, pool, costs',
    requests             UInt64                 COMMENT 'Rows of inference_requests in the day (before merges), when the run started',
    requests_ingested_at DateTime64(3, 'UTC')   COMMENT 'Newest ingested_at among them: late data moves it',
    settings_hash        String                 COMMENT 'Hash of the attribution settings the run used: changing them makes every day owed',
    rows_written         UInt64                 COMMENT 'Rows written to cost_allocation, pool_cost, cpp_daily and coverage_daily together',
    started_at           DateTime64(3, 'UTC')   COMMENT 'When the run started (inputs were read just before)',
    finished_at          DateTime64(3, 'UTC')   COMMENT 'When the day was swapped in',
    job_id               String                 COMMENT 'BullMQ job id of the run (job, day, input version); empty for runs outside the scheduler'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, finished_at)
TTL toDateTime(finished_at) + INTERVAL 400 DAY;
