-- The functions analysts may call, by the rule of analyst-allow-lists.ts:
-- every function of the engine except the refused categories and names; an
-- alias is judged as the function it stands for. The committed list
-- (src/warehouse/analyst-functions.generated.ts) is checked against this.
-- Parameters: categories Array(String), names Array(String)
SELECT f.name AS name, f.case_insensitive AS case_insensitive
FROM system.functions AS f
LEFT JOIN system.functions AS target ON target.name = f.alias_to
WHERE if(f.alias_to = '', f.categories, target.categories) NOT IN {categories:Array(String)}
  AND f.name NOT IN {names:Array(String)}
  AND f.alias_to NOT IN {names:Array(String)}
ORDER BY name
