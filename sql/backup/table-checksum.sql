-- Rows and checksum of a table whose merges never change its rows (MergeTree):
-- every stored row. A sum of row hashes does not depend on how the rows are
-- split into parts or ordered. tuple(*): cityHash64(*) is NULL for a row with
-- a NULL in any column, which would leave that row out of the sum.
SELECT count() AS rows, toString(sum(cityHash64(tuple(*)))) AS checksum, count() AS stored_rows
FROM {database:Identifier}.{table:Identifier}
