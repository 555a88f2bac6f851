-- The columns of a Parquet file and their types, as the engine reads them.
DESCRIBE file({path:String}, 'Parquet');
