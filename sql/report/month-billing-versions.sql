-- Chargeback report: the billing versions the month's attributed cost came
-- from, with how many pool-hours each holds and whether any is an estimate.
-- Parameters: month_start DateTime, month_end DateTime
SELECT
    toString(billing_version) AS billing_version,
    count() AS pool_hours,
    max(estimated) AS estimated
FROM pool_cost
WHERE period_start >= {month_start:DateTime('UTC')} AND period_start < {month_end:DateTime('UTC')}
GROUP BY billing_version
ORDER BY billing_version
SETTINGS prefer_column_name_to_alias = 1
