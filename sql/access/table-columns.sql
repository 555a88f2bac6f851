-- The tables and views of the warehouse's database, and whether each carries
-- the columns a scope filters on: what decides, per scoped user, which
-- tables are filtered by the engine and which are refused.
-- Parameters: database String
SELECT
    t.name AS table,
    t.engine AS engine,
    countIf(c.name = 'team') > 0 AS has_team,
    countIf(c.name = 'tenant_id') > 0 AS has_tenant
FROM system.tables AS t
LEFT JOIN system.columns AS c ON c.database = t.database AND c.table = t.name
WHERE t.database = {database:String}
GROUP BY t.name, t.engine
ORDER BY t.name
