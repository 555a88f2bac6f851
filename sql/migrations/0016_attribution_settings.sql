-- The attribution settings a database was attributed with (the attribution
-- section of the configuration: cost basis, weight bases, pools, feature and
-- model teams), so they follow the database rather than the process: a later
-- process that configures none uses these, and one that configures others is
-- refused until it adopts them deliberately (`attribute --adopt-settings`).
--
-- One row per recording; the newest row is current and the older ones are
-- the history of changes (an audit of who changed the settings, when and why).
-- MergeTree ordered by time: read newest first, a handful of rows in all.
CREATE TABLE IF NOT EXISTS attribution_settings
(
    recorded_at    DateTime64(3, 'UTC')     COMMENT 'When the settings were recorded; the newest row is the current settings',
    settings       String                   COMMENT 'The settings as JSON, defaults filled in (the attribution section of the configuration)',
    settings_hash  String                   COMMENT 'Hash of the settings, as attribution_runs.settings_hash records it for the runs that used them',
    recorded_by    LowCardinality(String)   COMMENT 'What recorded them: the command or job that was about to attribute with them (inferledger attribute, job attribute, inferledger demo)',
    reason         LowCardinality(String)   COMMENT 'Why: first attribution (nothing recorded before), adopted (settings replaced deliberately) or demo'
)
ENGINE = MergeTree
ORDER BY recorded_at;
