-- Step 3: split each (period, pool, currency)'s billed cost C over the
-- period's traffic groups, exactly.
--   cost      = C * w / W          (w: the group's weight on the pool's basis)
--   used_cost = U * g / G          (g: the group's GPU time; U = min(C, C * G / capacity), the
--                                   cost of the GPU time used; with capacity unknown, used_cost = cost)
-- Both splits are done in integer units of 1e-12 (the stored precision) with
-- the largest-remainder method: floor every share, then give the units left
-- over, one each, to the groups with the largest remainders (ties by group
-- key, so re-runs are identical). Sums are therefore exact: sum(cost) = C and
-- sum(used_cost) = U. Int256 keeps C * w from overflowing; no float anywhere.
-- A basis that sums to 0 in a pool-period (e.g. no GPU time recorded) falls
-- back to 'requests'. Credits (C < 0) are split by magnitude and keep their sign.
-- Parameters: traffic Identifier, bill Identifier, hours Identifier, weight_default String,
--             weight_pools Array(String), weight_bases Array(String), attributed_at DateTime64(3)
WITH
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
            toInt256(reinterpretAsInt128(b.cost)) AS signed_units,
            b.capacity_gpu_ms IS NOT NULL AS capacity_known,
            toInt256(reinterpretAsInt128(assumeNotNull(b.capacity_gpu_ms))) AS capacity_units,
            transform(g.pool_id, {weight_pools:Array(String)}, {weight_bases:Array(String)}, {weight_default:String}) AS configured_basis,
            toInt256(reinterpretAsInt128(g.gpu_ms)) AS gpu_units,
            multiIf(configured_basis = 'tokens', toInt256(g.input_tokens + g.output_tokens),
                    configured_basis = 'requests', toInt256(g.requests),
                    gpu_units) AS configured_weight
        FROM groups AS g
        INNER JOIN {bill:Identifier} AS b
            ON g.period_start = b.period_start AND g.period_end = b.period_end AND g.pool_id = b.pool_id
    ),
    totals AS (
        SELECT
            *,
            sum(configured_weight) OVER part AS configured_total,
            sum(toInt256(requests)) OVER part AS request_total,
            sum(gpu_units) OVER part AS gpu_total
        FROM weighted
        WINDOW part AS (PARTITION BY period_start, period_end, pool_id, currency)
    ),
    shares AS (
        SELECT
            *,
            if(configured_total = 0, 'requests', configured_basis) AS weight_basis,
            if(configured_total = 0, toInt256(requests), configured_weight) AS w,
            if(configured_total = 0, request_total, configured_total) AS w_total,
            if(signed_units < 0, -signed_units, signed_units) AS c_units,
            if(signed_units < 0, -1, 1) AS sign_of_cost,
            if(capacity_known, least(c_units, intDiv(c_units * gpu_total, greatest(capacity_units, 1))), c_units) AS u_units,
            intDiv(c_units * w, w_total) AS cost_floor,
            (c_units * w) % w_total AS cost_rest,
            if(gpu_total = 0, toInt256(0), intDiv(u_units * gpu_units, gpu_total)) AS used_floor,
            if(gpu_total = 0, toInt256(0), (u_units * gpu_units) % gpu_total) AS used_rest
        FROM totals
    ),
    ranked AS (
        SELECT
            *,
            c_units - sum(cost_floor) OVER part AS cost_left,
            row_number() OVER (PARTITION BY period_start, period_end, pool_id, currency
                               ORDER BY cost_rest DESC, model_id, model_version, feature_id, tenant_id, team) AS cost_rank,
            u_units - sum(used_floor) OVER part AS used_left,
            row_number() OVER (PARTITION BY period_start, period_end, pool_id, currency
                               ORDER BY used_rest DESC, model_id, model_version, feature_id, tenant_id, team) AS used_rank
        FROM shares
        WINDOW part AS (PARTITION BY period_start, period_end, pool_id, currency)
    )
SELECT
    period_start, period_end, pool_id, model_id, model_version, feature_id, tenant_id, team,
    requests, input_tokens, output_tokens, gpu_ms, weight_basis,
    reinterpret(toInt128(sign_of_cost * (cost_floor + if(cost_rank <= cost_left, 1, 0))), 'Decimal(38, 12)') AS cost,
    reinterpret(toInt128(sign_of_cost * if(capacity_known, used_floor + if(used_rank <= used_left, 1, 0),
                                                           cost_floor + if(cost_rank <= cost_left, 1, 0))), 'Decimal(38, 12)') AS used_cost,
    currency, billing_version, estimated,
    {attributed_at:DateTime64(3, 'UTC')} AS attributed_at
FROM ranked
