-- Copy every table of the database (schema and data parts) into a directory
-- under the data directory's backups.allowed_path. The engine's parser takes
-- no query parameter for the database name here: it is put in as a checked,
-- quoted identifier by src/backup (see identifier-sql.ts); the path is bound.
BACKUP DATABASE {database:Identifier} TO File({path:String})
