-- Chargeback report (focus-allocated.csv): the month's bill per (pool,
-- currency) on every FOCUS cost column the file carries (BilledCost,
-- EffectiveCost, ListCost), whichever basis the month was attributed on.
-- Each line is spread over its hours exactly as attribution spreads it
-- (bill.sql: in 1e-12 units, |amount| gives each hour intDiv(|amount|, n) and
-- one more unit to each of the first |amount| mod n hours), and only the
-- pool-hours attribution wrote (pool_cost) count, so on the attributed basis
-- this is pool_cost's billed_cost to the unit. Untagged cost (pool '') comes
-- per service, the ServiceName of its rows; tagged pools have service ''.
-- Parameters: month_start DateTime, month_end DateTime
SELECT
    toString(pool_id) AS pool_id,
    toString(currency) AS currency,
    service,
    reinterpret(toInt128(sum(billed_share)), 'Decimal(38, 12)') AS billed,
    reinterpret(toInt128(sum(effective_share)), 'Decimal(38, 12)') AS effective,
    reinterpret(toInt128(sum(list_share)), 'Decimal(38, 12)') AS list
FROM
(
    SELECT
        pool_id,
        billing_currency AS currency,
        if(pool_id = '', toString(service_name), '') AS service,
        greatest(dateDiff('hour', charge_period_start, charge_period_end), 1) AS n,
        arrayJoin(range(toUInt64(greatest(dateDiff('hour', charge_period_start, {month_start:DateTime('UTC')}), 0)),
                        toUInt64(greatest(least(n, dateDiff('hour', charge_period_start, {month_end:DateTime('UTC')})), 0)))) AS i,
        charge_period_start + toIntervalHour(i) AS hour,
        reinterpretAsInt128(billed_cost) AS b,
        reinterpretAsInt128(effective_cost) AS e,
        reinterpretAsInt128(list_cost) AS l,
        if(b < 0, -1, 1) * (intDiv(abs(b), n) + if(i < abs(b) % n, 1, 0)) AS billed_share,
        if(e < 0, -1, 1) * (intDiv(abs(e), n) + if(i < abs(e) % n, 1, 0)) AS effective_share,
        if(l < 0, -1, 1) * (intDiv(abs(l), n) + if(i < abs(l) % n, 1, 0)) AS list_share
    FROM billing_current
    WHERE charge_period_start < {month_end:DateTime('UTC')} AND charge_period_end > {month_start:DateTime('UTC')}
)
WHERE (hour, pool_id, currency) IN (
    -- The hours of the pool-periods attributed (one each since periods are hours; a longer period, all of its hours).
    SELECT arrayJoin(arrayMap(h -> period_start + toIntervalHour(h), range(toUInt64(greatest(dateDiff('hour', period_start, period_end), 1))))),
           pool_id, currency
    FROM pool_cost
    WHERE period_start >= {month_start:DateTime('UTC')} AND period_start < {month_end:DateTime('UTC')}
)
GROUP BY pool_id, currency, service
ORDER BY currency, pool_id, service
SETTINGS prefer_column_name_to_alias = 1
