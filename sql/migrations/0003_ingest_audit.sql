-- Lines that ingestion refused, with the reason, so nothing disappears silently.
-- Kept 180 days: long enough to fix and replay a source, short enough not to grow forever.
CREATE TABLE IF NOT EXISTS ingest_rejects
(
    rejected_at DateTime64(3, 'UTC')  COMMENT 'When the line was refused',
    run_id      UUID                    COMMENT 'The ingestion run (see ingest_runs)',
    kind        LowCardinality(String)  COMMENT 'requests or billing',
    source      String                  COMMENT 'File path (or topic/partition/offset) of the line',
    line        UInt64                  COMMENT 'Line number in the file (1-based; for CSV, the record''s first line)',
    field       String                  COMMENT 'Field at fault; empty when the whole line is unreadable',
    reason      String                  COMMENT 'Why it was refused',
    raw         String                  COMMENT 'The line as read, cut to 4 KiB'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(rejected_at)
ORDER BY (kind, rejected_at)
TTL toDateTime(rejected_at) + INTERVAL 180 DAY;

-- One row per ingestion run: what it read and what became of it.
CREATE TABLE IF NOT EXISTS ingest_runs
(
    run_id      UUID                   COMMENT 'Id of the run; billing rows of a file import carry its time as billing_version',
    kind        LowCardinality(String) COMMENT 'requests or billing',
    format      LowCardinality(String) COMMENT 'ndjson, focus, aws-cur',
    sources     Array(String)          COMMENT 'Files read',
    started_at  DateTime64(6, 'UTC') COMMENT 'Start of the run (for billing: the billing_version written)',
    finished_at DateTime64(3, 'UTC') COMMENT 'End of the run',
    accepted    UInt64                 COMMENT 'Rows stored',
    rejected    UInt64                 COMMENT 'Lines refused (see ingest_rejects)',
    duplicates  UInt64                 COMMENT 'Rows already stored (same request_id), skipped'
)
ENGINE = MergeTree
ORDER BY (kind, started_at);
