-- Staging tables of attribution runs older than a limit: left by a run that was killed.
-- Parameters: max_age UInt32 (seconds)
SELECT name
FROM system.tables
WHERE database = currentDatabase()
  AND startsWith(name, 'attribution_stage_')
  AND metadata_modification_time <= now() - toIntervalSecond({max_age:UInt32})
