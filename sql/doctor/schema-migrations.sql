-- The migrations the warehouse has applied (schema_migrations), to hold
-- against the ones this inferledger ships (sql/migrations).
SELECT version, name, checksum
FROM schema_migrations FINAL
ORDER BY version
