-- Databases a backup uses for a while (see drop-database.sql), left behind
-- when its process was killed.
SELECT name
FROM system.databases
WHERE startsWith(name, 'inferledger_backup_')
ORDER BY name
