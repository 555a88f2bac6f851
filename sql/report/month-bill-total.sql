-- Chargeback report: the month's bill per currency straight from
-- billing_current, on both cost bases, each line's share of the month
-- computed exactly as attribution spreads it over its hours (bill.sql): in
-- 1e-12 units, |amount| gives each hour intDiv(|amount|, n) and one more unit
-- to each of the first |amount| mod n hours. A report checks pool_cost
-- against it, so a pack is never built from attribution on another basis or
-- from days attributed before the bill last changed.
-- Parameters: month_start DateTime, month_end DateTime
SELECT
    currency,
    reinterpret(toInt128(sum(if(e < 0, -1, 1) * ((hi - lo) * intDiv(abs(e), n) + greatest(least(hi, toInt64(abs(e) % n)) - lo, 0)))), 'Decimal(38, 12)') AS effective,
    reinterpret(toInt128(sum(if(b < 0, -1, 1) * ((hi - lo) * intDiv(abs(b), n) + greatest(least(hi, toInt64(abs(b) % n)) - lo, 0)))), 'Decimal(38, 12)') AS billed
FROM
(
    SELECT
        toString(billing_currency) AS currency,
        greatest(dateDiff('hour', charge_period_start, charge_period_end), 1) AS n,
        greatest(dateDiff('hour', charge_period_start, {month_start:DateTime('UTC')}), 0) AS lo,
        greatest(least(n, dateDiff('hour', charge_period_start, {month_end:DateTime('UTC')})), 0) AS hi,
        reinterpretAsInt128(effective_cost) AS e,
        reinterpretAsInt128(billed_cost) AS b
    FROM billing_current
    WHERE charge_period_start < {month_end:DateTime('UTC')} AND charge_period_end > {month_start:DateTime('UTC')}
)
GROUP BY currency
ORDER BY currency
