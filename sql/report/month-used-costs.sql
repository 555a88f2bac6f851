-- Chargeback report (focus-allocated.csv): the cost of the GPU time each
-- group used, per (pool, currency, team, tenant, model, version, feature), on
-- every FOCUS cost column the file carries (BilledCost, EffectiveCost,
-- ListCost, ContractedCost as month-pool-bill-costs.sql derives it) and its
-- share of the pool's quantity (PricingQuantity), whichever basis the month
-- was attributed on. Each pool-period's amount on each column is split as
-- attribution split the attributed one (cost-allocation.sql), by the weights
-- it recorded: the group's GPU time out of U = min(C, C x G / capacity)
-- (capacity from pool_cost), or C by the pool-period's weight basis when
-- capacity is unknown; in 1e-12 units, with cumulative rounding in the same
-- group order (hash of the group key, then the key): a group gets
-- floor(A x upto / total) - floor(A x before / total), so the running floors
-- are computed once and differenced; a negative amount split by magnitude,
-- keeping its sign. So on every column a pool-period's used shares are at
-- most its amount, the rest being its idle. Amounts come back as integer
-- counts of 1e-12 (as text: 50,000 groups x 5 columns read without decimal
-- parsing).
-- The split is a function of the amount alone (same weights, same order), so
-- a column whose amount is the one attributed (pool_cost.billed_cost) takes
-- cost_allocation.used_cost as it is, and columns with equal amounts share
-- one split: only the distinct other amounts of a pool-period are divided.
-- Parameters: month_start DateTime, month_end DateTime
WITH toUInt128('340282366920938463463374607431768211455') AS MAX_UINT128
SELECT
    toString(pool_id) AS pool_id,
    toString(currency) AS currency,
    toString(x.1.6) AS team,
    toString(x.1.5) AS tenant_id,
    toString(x.1.2) AS model_id,
    toString(x.1.3) AS model_version,
    toString(x.1.4) AS feature_id,
    toString(sum(x.2.1)) AS billed,
    toString(sum(x.2.2)) AS effective,
    toString(sum(x.2.3)) AS list,
    toString(sum(x.2.4)) AS contracted,
    toString(sum(x.2.5)) AS quantity
FROM
(
    SELECT
        a.pool_id AS pool_id, a.currency AS currency, a.g AS g,
        b.capacity_gpu_ms IS NOT NULL AS capacity_known,
        toUInt128(reinterpretAsInt128(assumeNotNull(b.capacity_gpu_ms))) AS capacity_units,
        arrayMap(t -> t.10, a.g) AS gpu_weights,
        multiIf(a.basis = 'tokens', arrayMap(t -> toUInt128(t.8 + t.9), a.g),
                a.basis = 'requests', arrayMap(t -> toUInt128(t.7), a.g),
                gpu_weights) AS weights,
        toUInt128(arraySum(weights)) AS w_total,
        toUInt128(arraySum(gpu_weights)) AS gpu_total,
        -- What a column is split by: the groups' GPU time (of U) when capacity is known, else their weights (of C).
        if(capacity_known, arrayCumSum(gpu_weights), arrayCumSum(weights)) AS upto,
        greatest(if(capacity_known, gpu_total, w_total), 1) AS total,
        [b.billed_units, b.effective_units, b.list_units, b.contracted_units, b.quantity_units] AS amounts,
        -- The attributed amount's split, as attribution stored it.
        arrayMap(t -> t.11, a.g) AS attributed,
        arrayDistinct(arrayFilter(v -> v != b.attributed_units, amounts)) AS others,
        throwIf(arrayMax(arrayMap(v -> toUInt128(if(v < 0, -v, v)), amounts)) > intDiv(MAX_UINT128, greatest(w_total, gpu_total, 1)),
                'report: cost x weight of a pool-period does not fit in 128 bits') AS overflow_check,
        -- C = |amount| (+ 0 from the check, so it cannot be left out as unused); the part split: U with capacity known, else C.
        arrayMap(v -> if(capacity_known,
                         least(toUInt128(if(v < 0, -v, v)) + overflow_check,
                               intDiv((toUInt128(if(v < 0, -v, v)) + overflow_check) * gpu_total, greatest(capacity_units, 1))),
                         toUInt128(if(v < 0, -v, v)) + overflow_check),
                 others) AS split_units,
        arrayMap(s -> arrayMap(t -> intDiv(s * t, total), upto), split_units) AS floors,
        arrayMap((v, f) -> arrayMap((f_upto, f_before) -> if(v < 0, -1, 1) * toInt128(f_upto - f_before), f, arrayPushFront(arrayPopBack(f), 0)),
                 others, floors) AS splits,
        arrayMap(v -> if(v = b.attributed_units, attributed, splits[indexOf(others, v)]), amounts) AS shares
    FROM
    (
        -- Each attributed pool-period's groups, sorted into the order of the split.
        SELECT
            period_start, pool_id, currency,
            any(weight_basis) AS basis,
            arraySort(groupArray((cityHash64(model_id, model_version, feature_id, tenant_id, team),
                                  model_id, model_version, feature_id, tenant_id, team,
                                  requests, input_tokens, output_tokens, toUInt128(reinterpretAsInt128(gpu_ms)),
                                  reinterpretAsInt128(used_cost)))) AS g
        FROM cost_allocation
        WHERE period_start >= {month_start:DateTime('UTC')} AND period_start < {month_end:DateTime('UTC')}
        GROUP BY period_start, pool_id, currency
    ) AS a
    INNER JOIN
    (
        -- Each attributed pool-period's capacity, attributed amount, and bill on each column: the hours of the period
        -- (one, or all of a longer one), each hour's lines spread as bill.sql spreads them.
        SELECT
            p.period_start AS period_start, p.pool_id AS pool_id, p.currency AS currency,
            any(p.capacity_gpu_ms) AS capacity_gpu_ms,
            any(p.attributed_units) AS attributed_units,
            sum(h.billed_units) AS billed_units, sum(h.effective_units) AS effective_units, sum(h.list_units) AS list_units,
            sum(h.contracted_units) AS contracted_units, sum(h.quantity_units) AS quantity_units
        FROM
        (
            SELECT period_start, pool_id, currency, capacity_gpu_ms, reinterpretAsInt128(billed_cost) AS attributed_units,
                   arrayJoin(arrayMap(i -> period_start + toIntervalHour(i), range(toUInt64(greatest(dateDiff('hour', period_start, period_end), 1))))) AS hour
            FROM pool_cost
            WHERE period_start >= {month_start:DateTime('UTC')} AND period_start < {month_end:DateTime('UTC')} AND pool_id != ''
        ) AS p
        INNER JOIN
        (
            SELECT
                hour, pool_id, billing_currency,
                sum(if(b < 0, -1, 1) * (intDiv(abs(b), n) + if(i < abs(b) % n, 1, 0))) AS billed_units,
                sum(if(e < 0, -1, 1) * (intDiv(abs(e), n) + if(i < abs(e) % n, 1, 0))) AS effective_units,
                sum(if(l < 0, -1, 1) * (intDiv(abs(l), n) + if(i < abs(l) % n, 1, 0))) AS list_units,
                sum(if(c < 0, -1, 1) * (intDiv(abs(c), n) + if(i < abs(c) % n, 1, 0))) AS contracted_units,
                sum(if(q < 0, -1, 1) * (intDiv(abs(q), n) + if(i < abs(q) % n, 1, 0))) AS quantity_units
            FROM
            (
                SELECT
                    pool_id, billing_currency,
                    greatest(dateDiff('hour', charge_period_start, charge_period_end), 1) AS n,
                    arrayJoin(range(toUInt64(greatest(dateDiff('hour', charge_period_start, {month_start:DateTime('UTC')}), 0)),
                                    toUInt64(greatest(least(n, dateDiff('hour', charge_period_start, {month_end:DateTime('UTC')})), 0)))) AS i,
                    charge_period_start + toIntervalHour(i) AS hour,
                    reinterpretAsInt128(billed_cost) AS b,
                    reinterpretAsInt128(effective_cost) AS e,
                    reinterpretAsInt128(list_cost) AS l,
                    reinterpretAsInt128(if(charge_category = 'Credit', billed_cost, list_cost)) AS c,
                    reinterpretAsInt128(consumed_quantity) AS q
                FROM billing_current
                WHERE charge_period_start < {month_end:DateTime('UTC')} AND charge_period_end > {month_start:DateTime('UTC')} AND pool_id != ''
            )
            GROUP BY hour, pool_id, billing_currency
        ) AS h
            ON p.hour = h.hour AND p.pool_id = h.pool_id AND p.currency = h.billing_currency
        GROUP BY p.period_start, p.pool_id, p.currency
    ) AS b
        ON a.period_start = b.period_start AND a.pool_id = b.pool_id AND a.currency = b.currency
)
ARRAY JOIN arrayZip(g, arrayZip(shares[1], shares[2], shares[3], shares[4], shares[5])) AS x
GROUP BY pool_id, currency, team, tenant_id, model_id, model_version, feature_id
SETTINGS prefer_column_name_to_alias = 1
