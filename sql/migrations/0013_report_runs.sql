-- Watermarks of the scheduled chargeback reports: one row per pack the
-- report-chargeback job built (or found already in place) for a month. A
-- month owes a pack for each configured (by, idle) while no row records it at
-- the month's status now: its estimated pack once the month is over, then its
-- final pack once no billing of it is an estimate and no request waits for
-- its bill. Packs are immutable, so a pack recorded here is never rebuilt.
--
-- MergeTree ordered by the pack's identity: the owed query reads a few rows
-- per month; history is kept (a month has at most two packs per (by, idle)).
CREATE TABLE IF NOT EXISTS report_runs
(
    month          Date                     COMMENT 'First day of the UTC month reported',
    report_by      LowCardinality(String)   COMMENT 'Owners of the pack lines: team or tenant',
    idle_policy    LowCardinality(String)   COMMENT 'Idle policy of the pack: spread, separate or owner',
    basis          LowCardinality(String)   COMMENT 'Cost basis of the pack: effective or billed',
    status         LowCardinality(String)   COMMENT 'estimated or final: the status the pack was built at',
    pack_dir       String                   COMMENT 'Directory of the pack',
    written        Bool                     COMMENT 'False when the pack was already in place and left as it was',
    attributed_at  DateTime64(3, 'UTC')     COMMENT 'Newest attribution of the month (pool_cost) the pack was built from',
    built_at       DateTime64(3, 'UTC')     COMMENT 'When the job recorded the pack',
    job_id         String                   COMMENT 'BullMQ job id of the run'
)
ENGINE = MergeTree
ORDER BY (month, report_by, idle_policy, basis, status, built_at);
