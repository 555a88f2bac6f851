-- What each (pool, month) of the rate cards holds as it stands, summed so a
-- difference in any hour's cost, capacity or estimate, or in the versions
-- used, shows: the scheduler compares these with the cards' own hours and
-- rewrites only the months that differ. Weighted sums (x the hour's number)
-- tell a change of which hour costs what, not only of the total.
-- Parameters: none
WITH current_scopes AS (
    SELECT billing_account_id, scope_start, max(billing_version) AS version
    FROM billing_scopes
    WHERE source = 'rate-card'
    GROUP BY billing_account_id, scope_start
)
SELECT
    billing_account_id AS pool_id,
    toString(scope_start) AS month_start,
    count() AS lines,
    toString(sum(toInt256(reinterpretAsInt128(effective_cost)))) AS cost_units,
    toString(sum(toInt256(reinterpretAsInt128(effective_cost)) * intDiv(toUnixTimestamp(charge_period_start), 3600))) AS cost_moment,
    toString(sum(toInt256(reinterpretAsInt128(consumed_quantity)) * intDiv(toUnixTimestamp(charge_period_start), 3600))) AS capacity_moment,
    countIf(is_estimated) AS estimated_lines,
    arraySort(groupUniqArray(toString(billing_currency))) AS currencies,
    arraySort(groupUniqArray(source_file)) AS sources
FROM billing_line_items
WHERE source = 'rate-card'
  AND (billing_account_id, scope_start, scope_version) IN (SELECT billing_account_id, scope_start, version FROM current_scopes)
GROUP BY billing_account_id, scope_start
