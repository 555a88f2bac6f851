-- Disk used by each table of the warehouse's database: compressed bytes of
-- its active parts (what system.parts counts as bytes_on_disk, summed by the
-- engine), and its rows. system.tables, not system.parts: the query endpoint
-- of a running service reads the catalogue only. Views have no size.
SELECT name AS table, toUInt64(total_bytes) AS bytes, toUInt64(coalesce(total_rows, 0)) AS rows
FROM system.tables
WHERE database = currentDatabase() AND total_bytes IS NOT NULL
ORDER BY bytes DESC, table
