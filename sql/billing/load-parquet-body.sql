-- Load a Parquet file sent in the request body (a ClickHouse server cannot
-- read the client's disk) into its raw table (create-parquet-raw.sql),
-- numbering rows in file order, as load-parquet-file.sql does.
INSERT INTO {raw:Identifier}
SELECT rowNumberInAllBlocks() + 1, formatRowNoNewline('JSONEachRow', *), *
FROM input({structure:String})
FORMAT Parquet
