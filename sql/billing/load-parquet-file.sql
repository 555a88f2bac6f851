-- Load a Parquet file the engine can read itself (embedded: the file is on
-- this machine) into its raw table (create-parquet-raw.sql), numbering rows in
-- file order (run with one thread and input_format_parquet_preserve_order).
INSERT INTO {raw:Identifier}
SELECT rowNumberInAllBlocks() + 1, formatRowNoNewline('JSONEachRow', *), *
FROM file({path:String}, 'Parquet', {structure:String});
