-- Stage tables of Parquet imports that ended without dropping them (a killed
-- process). {live:Array(String)} are this process's own, never stale. With
-- {exclusive:UInt8} (embedded: one process holds the data directory) every
-- other one is stale; on a server, imports elsewhere may be running, so only
-- tables created more than {stale_after_seconds:UInt32} ago are.
SELECT name
FROM system.tables
WHERE database = {db:String}
    AND startsWith(name, 'billing_parquet_stage_')
    AND NOT has({live:Array(String)}, name)
    AND ({exclusive:UInt8} OR metadata_modification_time < now() - toIntervalSecond({stale_after_seconds:UInt32}))
ORDER BY name;
