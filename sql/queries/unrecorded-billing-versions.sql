-- Billing versions written but never recorded complete (an import that was
-- killed, failed or refused for bad lines): invisible to billing_current and
-- attribution, listed here so they can be inspected or deleted. A version
-- younger than the longest import may still be in progress: mind `written_at`.
-- Parameters: none
SELECT
    billing_version AS written_at,
    source,
    uniqExact(source_file) AS files,
    count() AS line_items
FROM billing_line_items
WHERE (source, billing_account_id, scope_start, scope_version) NOT IN (
    SELECT source, billing_account_id, scope_start, billing_version FROM billing_scopes)
GROUP BY billing_version, source
ORDER BY billing_version
