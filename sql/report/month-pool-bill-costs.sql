-- Chargeback report (focus-allocated.csv): the month's bill per (pool,
-- currency) on every FOCUS cost column the file carries (BilledCost,
-- EffectiveCost, ListCost, ContractedCost) and its quantity (PricingQuantity),
-- whichever basis the month was attributed on. Each line is spread over its
-- hours exactly as attribution spreads it (bill.sql: in 1e-12 units, |amount|
-- gives each hour intDiv(|amount|, n) and one more unit to each of the first
-- |amount| mod n hours), and only the pool-hours attribution wrote
-- (pool_cost) count, so on the attributed basis this is pool_cost's
-- billed_cost to the unit. Untagged cost (pool '') comes per service, the
-- ServiceName of its rows; tagged pools have service ''. Amounts are integer
-- counts of 1e-12, as text (as month-used-costs.sql gives them).
--   contracted: the bill stores no contracted cost, so it is FOCUS's default:
--               ListCost (no negotiated price known), BilledCost on a Credit line.
--   quantity:   the lines' consumed quantity; units, the distinct units of the
--               lines with a non-zero quantity (one, or the quantity adds
--               different things up and the caller leaves it out).
--   billing_account_id, provider: of the lines that carry the most BilledCost
--               (net, by magnitude), a non-empty account and provider first,
--               ties to the smallest.
-- Parameters: month_start DateTime, month_end DateTime
SELECT
    toString(pool_id) AS pool_id,
    toString(currency) AS currency,
    service,
    toString(sum(b_units)) AS billed,
    toString(sum(e_units)) AS effective,
    toString(sum(l_units)) AS list,
    toString(sum(c_units)) AS contracted,
    toString(sum(q_units)) AS quantity,
    arraySort(groupUniqArrayArray(unit_set)) AS units,
    argMin(account, (account = '', provider = '', if(b_units < 0, b_units, -b_units), account, provider)) AS billing_account_id,
    argMin(provider, (account = '', provider = '', if(b_units < 0, b_units, -b_units), account, provider)) AS provider
FROM
(
    -- Per account and provider of the pool's lines.
    SELECT
        pool_id, currency, service, account, provider,
        sum(billed_share) AS b_units, sum(effective_share) AS e_units, sum(list_share) AS l_units,
        sum(contracted_share) AS c_units, sum(quantity_share) AS q_units,
        groupUniqArrayIf(unit, q != 0 AND unit != '') AS unit_set
    FROM
    (
        SELECT
            pool_id,
            billing_currency AS currency,
            if(pool_id = '', toString(service_name), '') AS service,
            billing_account_id AS account,
            toString(provider) AS provider,
            toString(consumed_unit) AS unit,
            greatest(dateDiff('hour', charge_period_start, charge_period_end), 1) AS n,
            arrayJoin(range(toUInt64(greatest(dateDiff('hour', charge_period_start, {month_start:DateTime('UTC')}), 0)),
                            toUInt64(greatest(least(n, dateDiff('hour', charge_period_start, {month_end:DateTime('UTC')})), 0)))) AS i,
            charge_period_start + toIntervalHour(i) AS hour,
            reinterpretAsInt128(billed_cost) AS b,
            reinterpretAsInt128(effective_cost) AS e,
            reinterpretAsInt128(list_cost) AS l,
            reinterpretAsInt128(if(charge_category = 'Credit', billed_cost, list_cost)) AS c,
            reinterpretAsInt128(consumed_quantity) AS q,
            if(b < 0, -1, 1) * (intDiv(abs(b), n) + if(i < abs(b) % n, 1, 0)) AS billed_share,
            if(e < 0, -1, 1) * (intDiv(abs(e), n) + if(i < abs(e) % n, 1, 0)) AS effective_share,
            if(l < 0, -1, 1) * (intDiv(abs(l), n) + if(i < abs(l) % n, 1, 0)) AS list_share,
            if(c < 0, -1, 1) * (intDiv(abs(c), n) + if(i < abs(c) % n, 1, 0)) AS contracted_share,
            if(q < 0, -1, 1) * (intDiv(abs(q), n) + if(i < abs(q) % n, 1, 0)) AS quantity_share
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
    GROUP BY pool_id, currency, service, account, provider
)
GROUP BY pool_id, currency, service
ORDER BY currency, pool_id, service
SETTINGS prefer_column_name_to_alias = 1
