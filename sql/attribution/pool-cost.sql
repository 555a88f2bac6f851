-- Step 4: where every unit of each (period, pool, currency)'s bill went.
-- Tagged pools: billed = used + idle exactly; allocated = billed when there
-- was traffic, 0 when there was none (then it is all idle). Untagged cost
-- (pool_id '') is unallocated. Capacity unknown: used = allocated, idle 0.
-- correction_cost is the part of billed_cost from Correction lines (already in billed).
-- Parameters: bill Identifier, allocation Identifier, weight_default String,
--             weight_pools Array(String), weight_bases Array(String), attributed_at DateTime64(3)
SELECT
    b.period_start AS period_start,
    b.period_end AS period_end,
    b.pool_id AS pool_id,
    b.currency AS currency,
    b.cost AS billed_cost,
    coalesce(a.allocated, toDecimal128(0, 12)) AS allocated_cost,
    coalesce(a.used, toDecimal128(0, 12)) AS used_cost,
    if(b.pool_id = '', toDecimal128(0, 12), b.cost - coalesce(a.used, toDecimal128(0, 12))) AS idle_cost,
    if(b.pool_id = '', b.cost, toDecimal128(0, 12)) AS unallocated_cost,
    b.correction_cost AS correction_cost,
    b.capacity_gpu_ms AS capacity_gpu_ms,
    coalesce(a.gpu_ms, toDecimal128(0, 3)) AS used_gpu_ms,
    if(b.capacity_gpu_ms IS NULL OR b.capacity_gpu_ms = 0, NULL,
       CAST(toDecimal128(coalesce(a.gpu_ms, toDecimal128(0, 3)), 9) / assumeNotNull(b.capacity_gpu_ms) AS Nullable(Decimal(18, 6)))) AS utilization,
    coalesce(a.requests, 0) AS requests,
    if(b.pool_id = '', '',
       coalesce(nullIf(a.weight_basis, ''),
                transform(b.pool_id, {weight_pools:Array(String)}, {weight_bases:Array(String)}, {weight_default:String}))) AS weight_basis,
    b.billing_version AS billing_version,
    b.estimated AS estimated,
    {attributed_at:DateTime64(3, 'UTC')} AS attributed_at
FROM {bill:Identifier} AS b
LEFT JOIN
(
    SELECT period_start, period_end, pool_id, currency,
           sum(cost) AS allocated, sum(used_cost) AS used, sum(gpu_ms) AS gpu_ms, sum(requests) AS requests,
           any(weight_basis) AS weight_basis
    FROM {allocation:Identifier}
    GROUP BY period_start, period_end, pool_id, currency
) AS a
    ON b.period_start = a.period_start AND b.period_end = a.period_end AND b.pool_id = a.pool_id AND b.currency = a.currency
SETTINGS join_use_nulls = 1
