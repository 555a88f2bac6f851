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
-- key) is fixed, so re-runs give identical rows. This needs one sort per
-- pool-period where largest remainders needed two.
-- Magnitudes are UInt128 (Int256 measured ~20x slower); a product that would
-- not fit stops the run with an error rather than wrap. No float anywhere.
-- A basis that sums to 0 in a pool-period (e.g. no GPU time recorded) falls
-- back to 'requests'. Credits (C < 0) are split by magnitude and keep their sign.
-- Parameters: traffic Identifier, bill Identifier, hours Identifier, weight_default String,
--             weight_pools Array(String), weight_bases Array(String), attributed_at DateTime64(3)
WITH
    toUInt128('340282366920938463463374607431768211455') AS MAX_UINT128,
    groups AS (
        SELECT
            h.period_start AS period_start, h.period_end AS period_end, t.pool_id AS pool_id,
            t.model_id AS model_id, t.model_version AS model_version, t.feature_id AS feature_id,
            t.tenant_id AS tenant_id, t.team AS team,
            sum(t.requests) AS requests, sum(t.input_tokens) AS input_tokens,
            sum(t.output_tokens) AS output_tokens, sum(t.gpu_ms) AS gpu_ms
        FROM {traffic:Identifier} AS t
        INNER JOIN (SELECT * FROM {hours:Identifier} WHERE pool_id != '') AS h ON t.pool_id = h.pool_id AND t.hour = h.hour
        GROUP BY period_start, period_end, pool_id, model_id, model_version, feature_id, tenant_id, team
    ),
    weighted AS (
        SELECT
            g.*, b.currency AS currency, b.billing_version AS billing_version, b.estimated AS estimated,
            reinterpretAsInt128(b.cost) AS signed_units,
            b.capacity_gpu_ms IS NOT NULL AS capacity_known,
            toUInt128(reinterpretAsInt128(assumeNotNull(b.capacity_gpu_ms))) AS capacity_units,
            transform(g.pool_id, {weight_pools:Array(String)}, {weight_bases:Array(String)}, {weight_default:String}) AS configured_basis,
            toUInt128(reinterpretAsInt128(g.gpu_ms)) AS gpu_units,
            multiIf(configured_basis = 'tokens', toUInt128(g.input_tokens + g.output_tokens),
                    configured_basis = 'requests', toUInt128(g.requests),
                    gpu_units) AS configured_weight,
            cityHash64(g.model_id, g.model_version, g.feature_id, g.tenant_id, g.team) AS group_hash
        FROM groups AS g
        INNER JOIN {bill:Identifier} AS b
            ON g.period_start = b.period_start AND g.period_end = b.period_end AND g.pool_id = b.pool_id
    ),
    running AS (
        -- Totals of the pool-period, and running totals up to and including each group.
        SELECT
            *,
            sum(configured_weight) OVER part AS configured_total,
            sum(toUInt128(requests)) OVER part AS request_total,
            sum(gpu_units) OVER part AS gpu_total,
            sum(configured_weight) OVER upto AS configured_upto,
            sum(toUInt128(requests)) OVER upto AS requests_upto,
            sum(gpu_units) OVER upto AS gpu_upto
        FROM weighted
        WINDOW
            part AS (PARTITION BY period_start, period_end, pool_id, currency),
            upto AS (PARTITION BY period_start, period_end, pool_id, currency
                     ORDER BY group_hash, model_id, model_version, feature_id, tenant_id, team
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    shares AS (
        SELECT
            *,
            configured_total = 0 AS fall_back,
            if(fall_back, 'requests', configured_basis) AS weight_basis,
            if(fall_back, toUInt128(requests), configured_weight) AS w,
            if(fall_back, requests_upto, configured_upto) AS w_upto,
            if(fall_back, request_total, configured_total) AS w_total,
            toUInt128(if(signed_units < 0, -signed_units, signed_units)) AS c_units,
            if(signed_units < 0, -1, 1) AS sign_of_cost,
            throwIf(c_units > intDiv(MAX_UINT128, greatest(w_total, gpu_total, 1)),
                    'attribution: cost x weight of a pool-period does not fit in 128 bits') AS overflow_check,
            if(capacity_known, least(c_units, intDiv(c_units * gpu_total, greatest(capacity_units, 1))), c_units) AS u_units,
            intDiv(c_units * w_upto, w_total) - intDiv(c_units * (w_upto - w), w_total) AS cost_units,
            if(gpu_total = 0, toUInt128(0),
               intDiv(u_units * gpu_upto, gpu_total) - intDiv(u_units * (gpu_upto - gpu_units), gpu_total)) AS used_units
        FROM running
    )
SELECT
    period_start, period_end, pool_id, model_id, model_version, feature_id, tenant_id, team,
    requests, input_tokens, output_tokens, gpu_ms, weight_basis,
    reinterpret(sign_of_cost * toInt128(cost_units), 'Decimal(38, 12)') AS cost,
    reinterpret(sign_of_cost * toInt128(if(capacity_known, used_units, cost_units)), 'Decimal(38, 12)') AS used_cost,
    currency, billing_version, estimated,
    {attributed_at:DateTime64(3, 'UTC')} AS attributed_at
FROM shares
