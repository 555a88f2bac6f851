-- Bookkeeping for `inferledger migrate`: one row per applied migration file.
-- ReplacingMergeTree on version: two processes migrating at once may both
-- record a version; the duplicates collapse and readers use FINAL.
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32                  COMMENT 'Number prefix of the migration file',
    name       String                  COMMENT 'File name of the migration',
    checksum   String                  COMMENT 'SHA-256 of the file text; applied migrations are immutable',
    applied_at DateTime64(3, 'UTC')  COMMENT 'When it was applied'
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version;
