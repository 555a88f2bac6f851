-- The engine's own parser, asked to re-print one statement: it refuses
-- multi-statement text and drops comments, so what the read-only check
-- inspects is exactly what will run. Each clause starts a line of its own and
-- string literals keep their line breaks escaped, so a SETTINGS clause is a
-- line that starts with SETTINGS.
-- Parameters: query String
SELECT formatQuery({query:String}) AS formatted
