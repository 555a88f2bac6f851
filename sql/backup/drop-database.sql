-- Drop a database of ours used while computing a manifest: a backup opened in
-- place (its files stay as they are) or a scratch copy of a few of its tables.
DROP DATABASE IF EXISTS {name:Identifier} SYNC
