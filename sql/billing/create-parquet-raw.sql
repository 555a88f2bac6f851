-- An empty table for the rows of one Parquet file as read: `line` (the row's
-- number in the file), `raw` (the row as JSON, for rejects) and the columns
-- of {structure:String}. The structure is bound, not spliced: generateRandom
-- only lends its columns (LIMIT 0 reads no row).
CREATE TABLE {raw:Identifier}
ENGINE = MergeTree ORDER BY line
AS SELECT toUInt64(0) AS line, '' AS raw, *
FROM generateRandom({structure:String})
LIMIT 0;
