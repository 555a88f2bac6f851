-- The tables of a backup, read in place (read-only) as a database of its own,
-- without restoring it: what the manifest's row counts and checksums are
-- computed from, so they describe exactly what the backup holds.
CREATE DATABASE {view:Identifier} ENGINE = Backup({database:String}, File({path:String}))
