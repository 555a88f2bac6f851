-- Free and total space of the disks of a ClickHouse server (on the embedded
-- engine the data directory is on this machine, and measured there).
SELECT name, path, toUInt64(free_space) AS free, toUInt64(total_space) AS total
FROM system.disks
ORDER BY name
