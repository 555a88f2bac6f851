-- Rows and checksum of a table whose merges collapse rows (ReplacingMergeTree
-- and kin): the rows as readers see them (FINAL), which no merge changes,
-- whether it ran before the backup, after the restore, or not yet. The stored
-- rows are counted too, for information: a merge may lower that count.
-- tuple(*) as in table-checksum.sql.
SELECT
    count() AS rows,
    toString(sum(cityHash64(tuple(*)))) AS checksum,
    (SELECT count() FROM {database:Identifier}.{table:Identifier}) AS stored_rows
FROM {database:Identifier}.{table:Identifier} FINAL
