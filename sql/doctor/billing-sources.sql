-- The newest recorded import of each billing source (billing_scopes: file
-- imports and Cost Explorer pulls), the newest Cost Explorer pull
-- (billing_pulls) and the paid Cost Explorer calls since month_start
-- (billing_api_calls, $0.01 a page).
-- Parameters: month_start DateTime
SELECT
    'import' AS kind, toString(source) AS source, toString(max(completed_at)) AS at, count() AS n, toString(0) AS cost_usd
FROM billing_scopes
GROUP BY source
UNION ALL
SELECT 'pull', 'aws-cost-explorer', toString(max(pulled_at)), count(), toString(0)
FROM billing_pulls FINAL
HAVING count() > 0
UNION ALL
SELECT 'pages', 'aws-cost-explorer', toString(max(called_at)), countIf(cost_usd > 0), toString(sum(cost_usd))
FROM billing_api_calls
WHERE called_at >= {month_start:DateTime('UTC')}
HAVING count() > 0
