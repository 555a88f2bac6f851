-- Step 3: split each (period, pool, currency)'s billed cost C over the
-- period's traffic groups, exactly.
--   cost      = C * w / W   (w: the group's weight on the pool's basis)
--   used_cost = U * g / G   (g: the group's GPU time; U = min(C, C * G / capacity),
--                            the cost of the GPU time used; with capacity unknown, used_cost = cost)
-- Exactness: both splits run in integer units of 1e-12 (the stored precision)
-- with cumulative rounding: in a fixed order of the groups, a group gets
-- floor(C * W_upto / W) - floor(C * W_before / W). The shares telescope, so
-- sum(cost) = C and sum(used_cost) = U to the last unit, and each share is
-- within one unit of C * w / W. The order (a hash of the group key, then the
-- key) is fixed, so re-runs give identical rows.
-- Each pool-period is one row holding its traffic as an array: sorted into
-- that order once, the rows of a group (adjacent after the sort: traffic has
-- a row per hour, and two teams may map to one) are summed, and the running
-- totals are arrayCumSum. One small sort per pool-period replaces a GROUP BY
-- over every group key and a window sort of every row of the day (4x faster
-- at 10M requests a day, same rows to the last unit).
-- Magnitudes are UInt128 (Int256 measured ~20x slower); a product that would
-- not fit stops the run with an error rather than wrap. No float anywhere.
-- A basis that sums to 0 in a pool-period (e.g. no GPU time recorded) falls
-- back to 'requests'. Credits (C < 0) are split by magnitude and keep their sign.
-- Parameters: traffic Identifier, bill Identifier, hours Identifier, weight_default String,
--             weight_pools Array(String), weight_bases Array(String), attributed_at DateTime64(3)
WITH
    toUInt128('340282366920938463463374607431768211455') AS MAX_UINT128,
    ordered AS (
        -- Each pool-period's traffic as one array, sorted into the fixed order of the split (hash of the
        -- group key, then the key); the rows of one group are adjacent, and summed through running totals:
        -- a group's sum is the running total at its last row minus the one at the group before.
        SELECT
            h.period_start AS period_start, h.period_end AS period_end, t.pool_id AS pool_id,
            arraySort(groupArray((cityHash64(t.model_id, t.model_version, t.feature_id, t.tenant_id, t.team),
                                  t.model_id, t.model_version, t.feature_id, t.tenant_id, t.team,
                                  t.requests, t.input_tokens, t.output_tokens, t.gpu_ms))) AS rows,
            arrayMap(x -> (x.1, x.2, x.3, x.4, x.5, x.6), rows) AS row_keys,
            -- Whether each row is the last of its group.
            arrayMap((k, next, i) -> i = length(row_keys) OR k != next,
                     row_keys, arrayPushBack(arrayPopFront(row_keys), row_keys[1]), arrayEnumerate(row_keys)) AS last,
            arrayFilter((k, l) -> l, row_keys, last) AS keys,
            arrayFilter((c, l) -> l, arrayCumSum(arrayMap(x -> x.7, rows)), last) AS requests_upto,
            arrayFilter((c, l) -> l, arrayCumSum(arrayMap(x -> x.8, rows)), last) AS input_upto,
            arrayFilter((c, l) -> l, arrayCumSum(arrayMap(x -> x.9, rows)), last) AS output_upto,
            arrayFilter((c, l) -> l, arrayCumSum(arrayMap(x -> x.10, rows)), last) AS gpu_ms_upto,
            arrayMap((k, r, i, o, gm, pr, pi, po, pg) -> (k.1, k.2, k.3, k.4, k.5, k.6, toUInt64(r - pr), toUInt64(i - pi), toUInt64(o - po), gm - pg),
                     keys, requests_upto, input_upto, output_upto, gpu_ms_upto,
                     arrayPushFront(arrayPopBack(requests_upto), 0), arrayPushFront(arrayPopBack(input_upto), 0),
                     arrayPushFront(arrayPopBack(output_upto), 0), arrayPushFront(arrayPopBack(gpu_ms_upto), 0)) AS g
        FROM {traffic:Identifier} AS t
        INNER JOIN (SELECT * FROM {hours:Identifier} WHERE pool_id != '') AS h ON t.pool_id = h.pool_id AND t.hour = h.hour
        GROUP BY period_start, period_end, pool_id
    ),
    totals AS (
        SELECT
            o.period_start AS period_start, o.period_end AS period_end, o.pool_id AS pool_id, o.g AS g,
            b.currency AS currency, b.billing_version AS billing_version, b.estimated AS estimated,
            reinterpretAsInt128(b.cost) AS signed_units,
            b.capacity_gpu_ms IS NOT NULL AS capacity_known,
            toUInt128(reinterpretAsInt128(assumeNotNull(b.capacity_gpu_ms))) AS capacity_units,
            transform(o.pool_id, {weight_pools:Array(String)}, {weight_bases:Array(String)}, {weight_default:String}) AS configured_basis,
            arrayMap(x -> toUInt128(reinterpretAsInt128(x.10)), o.g) AS gpu_weights,
            arrayMap(x -> toUInt128(x.7), o.g) AS request_weights,
            multiIf(configured_basis = 'tokens', arrayMap(x -> toUInt128(x.8 + x.9), o.g),
                    configured_basis = 'requests', request_weights,
                    gpu_weights) AS configured_weights,
            arraySum(configured_weights) = 0 AS fall_back,
            if(fall_back, 'requests', configured_basis) AS weight_basis,
            if(fall_back, request_weights, configured_weights) AS weights,
            arrayCumSum(weights) AS weights_upto,
            arrayCumSum(gpu_weights) AS gpu_upto_all,
            toUInt128(arraySum(weights)) AS w_total,
            toUInt128(arraySum(gpu_weights)) AS gpu_total,
            toUInt128(if(signed_units < 0, -signed_units, signed_units)) AS magnitude,
            if(signed_units < 0, -1, 1) AS sign_of_cost,
            throwIf(magnitude > intDiv(MAX_UINT128, greatest(w_total, gpu_total, 1)),
                    'attribution: cost x weight of a pool-period does not fit in 128 bits') AS overflow_check,
            -- + 0 from the check: every value below depends on it, so it cannot be left out as unused.
            magnitude + overflow_check AS c_units,
            if(capacity_known, least(c_units, intDiv(c_units * gpu_total, greatest(capacity_units, 1))), c_units) AS u_units
        FROM ordered AS o
        INNER JOIN {bill:Identifier} AS b
            ON o.period_start = b.period_start AND o.period_end = b.period_end AND o.pool_id = b.pool_id
    ),
    shares AS (
        SELECT
            period_start, period_end, pool_id, currency, billing_version, estimated, weight_basis,
            capacity_known, sign_of_cost, c_units, u_units, w_total, gpu_total,
            x.2 AS model_id, x.3 AS model_version, x.4 AS feature_id, x.5 AS tenant_id, x.6 AS team,
            x.7 AS requests, x.8 AS input_tokens, x.9 AS output_tokens, x.10 AS gpu_ms,
            intDiv(c_units * w_upto, w_total) - intDiv(c_units * (w_upto - w), w_total) AS cost_units,
            if(gpu_total = 0, toUInt128(0),
               intDiv(u_units * gpu_upto, gpu_total) - intDiv(u_units * (gpu_upto - gpu_units), gpu_total)) AS used_units
        FROM totals
        ARRAY JOIN g AS x, weights AS w, weights_upto AS w_upto, gpu_weights AS gpu_units, gpu_upto_all AS gpu_upto
    )
SELECT
    period_start, period_end, pool_id, model_id, model_version, feature_id, tenant_id, team,
    requests, input_tokens, output_tokens, gpu_ms, weight_basis,
    reinterpret(sign_of_cost * toInt128(cost_units), 'Decimal(38, 12)') AS cost,
    reinterpret(sign_of_cost * toInt128(if(capacity_known, used_units, cost_units)), 'Decimal(38, 12)') AS used_cost,
    currency, billing_version, estimated,
    {attributed_at:DateTime64(3, 'UTC')} AS attributed_at
FROM shares
