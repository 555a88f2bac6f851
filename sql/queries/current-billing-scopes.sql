-- The newest recorded version of each scope of one source starting in [from, to):
-- what an import about to be recorded may have to restate to nothing.
-- Parameters: source String, from DateTime, to DateTime (exclusive)
SELECT
    billing_account_id AS account,
    toString(scope_start) AS start,
    toString(argMax(scope_end, billing_version)) AS end,
    argMax(rows, billing_version) AS rows
FROM billing_scopes
WHERE source = {source:String} AND scope_start >= {from:DateTime('UTC')} AND scope_start < {to:DateTime('UTC')}
GROUP BY billing_account_id, scope_start
