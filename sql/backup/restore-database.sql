-- Load a backup's database into the warehouse's (empty) database, under the
-- warehouse's name: views that name their tables are renamed with it. The
-- names are put in as checked, quoted identifiers (the parser binds none
-- here); the path is bound.
RESTORE DATABASE {from:Identifier} AS {to:Identifier} FROM File({path:String})
