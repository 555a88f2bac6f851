-- Retention as last applied (retention_runs), per table: when, the horizon
-- and the first day kept, and the months it refused to drop, with why.
SELECT
    toString(table_name) AS retained_table,
    toString(max(applied_at)) AS last_applied_at,
    toString(argMax(horizon, applied_at)) AS last_horizon,
    toString(argMax(kept_from, applied_at)) AS last_kept_from,
    argMax(refused, applied_at) AS last_refused
FROM retention_runs
GROUP BY table_name
ORDER BY table_name
