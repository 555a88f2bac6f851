-- Stage tables of one kind (named {prefix:String}...) that ended without being dropped (a killed process).
-- {live:Array(String)} are this process's own, never stale. With {exclusive:UInt8} (embedded: one process holds
-- the data directory) every other one is stale; on a server, other processes may be running, so only tables
-- created more than {stale_after_seconds:UInt32} ago are.
-- Parameters: db String, prefix String, live Array(String), exclusive UInt8, stale_after_seconds UInt32
SELECT name
FROM system.tables
WHERE database = {db:String}
    AND startsWith(name, {prefix:String})
    AND NOT has({live:Array(String)}, name)
    AND ({exclusive:UInt8} OR metadata_modification_time < now() - toIntervalSecond({stale_after_seconds:UInt32}))
ORDER BY name;
