-- Step 2: the bill of the periods starting in the day, per (period, pool,
-- currency): cost on the configured basis, GPU capacity, provenance.
-- Capacity = instance-hours x GPUs per instance (the pool's override, else the
-- catalog); unknown (NULL) when any instance-hour line has no GPU count.
-- Parameters: from DateTime, to DateTime, cost_basis String ('effective' | 'billed'),
--             gpu_types Array(String), gpu_counts Array(UInt32), pool_keys Array(String), pool_gpus Array(UInt32)
SELECT
    charge_period_start AS period_start,
    charge_period_end AS period_end,
    pool_id,
    billing_currency AS currency,
    sum(if({cost_basis:String} = 'billed', billed_cost, effective_cost)) AS cost,
    if(countIf(is_hours AND gpus = 0) = 0 AND countIf(is_hours) > 0,
       CAST(sumIf(consumed_quantity * gpus, is_hours) * 3600000 AS Nullable(Decimal(38, 3))),
       NULL) AS capacity_gpu_ms,
    max(billing_version) AS billing_version,
    max(is_estimated) AS estimated
FROM
(
    SELECT
        *,
        consumed_unit IN ('Hours', 'Hour', 'Hrs', 'hours', 'hour', 'hrs', 'h') AS is_hours,
        transform(pool_id, {pool_keys:Array(String)}, {pool_gpus:Array(UInt32)},
                  transform(instance_type, {gpu_types:Array(String)}, {gpu_counts:Array(UInt32)}, toUInt32(0))) AS gpus
    FROM billing_current
    WHERE charge_period_start >= {from:DateTime('UTC')} AND charge_period_start < {to:DateTime('UTC')}
)
GROUP BY period_start, period_end, pool_id, currency
