-- The columns of a Parquet file and their types, as the engine reads them,
-- from the file's footer alone (magic, metadata, length, magic; base64), so
-- the same statement describes a file on this machine to a server too.
DESCRIBE format(Parquet, base64Decode({footer:String}));
