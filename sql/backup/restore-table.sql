-- One table of a backup, copied into a scratch database to be counted: a
-- backup opened in place shows only tables of the MergeTree family, and
-- attribution's scratch tables (Memory) are copied too. The names are put in
-- as checked, quoted identifiers (the parser binds none here); the path is bound.
RESTORE TABLE {database:Identifier}.{table:Identifier} AS {scratch:Identifier}.{table:Identifier} FROM File({path:String})
