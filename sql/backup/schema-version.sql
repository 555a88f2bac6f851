-- The newest migration applied to a database: its schema version.
SELECT max(version) AS newest, argMax(name, version) AS file, count() AS migrations
FROM {database:Identifier}.schema_migrations FINAL
