-- What the good rows of a staged Parquet file add to the import's scopes (billing_scopes), exactly.
SELECT
    billing_account_id AS account,
    toString(billing_period_start) AS scope_start,
    toString(billing_period_end) AS scope_end,
    billing_currency AS currency,
    count() AS rows,
    toString(sum(billed_cost)) AS billed,
    toString(sum(effective_cost)) AS effective,
    -- Days of charges of at most a day (corrections aside): where an export is the record.
    arraySort(groupUniqArrayIf(toString(toDate(charge_period_start_v)),
        charge_class != 'Correction' AND dateDiff('hour', charge_period_start_v, charge_period_end_v) <= 24)) AS record_days,
    countIf(inferred) AS inferred
FROM {staging:Identifier}
WHERE empty(problems)
GROUP BY billing_account_id, billing_period_start, billing_period_end, billing_currency
ORDER BY account, scope_start, currency;
