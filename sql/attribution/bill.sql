-- Step 2: the bill of the day's hours, per (hour, pool, currency): cost on the
-- configured basis, GPU capacity, provenance.
-- Every line overlapping the day counts, also one that started before it (a
-- monthly fee from the 1st pays for the 15th too). A line whose charge period
-- covers n hours is spread over them exactly: in integer units of 1e-12 its
-- |amount| gives each hour intDiv(|amount|, n), and one more unit to each of
-- the first |amount| mod n hours, with the amount's sign; so the n shares sum
-- to the amount to the last unit, and a day gets exactly its hours' shares.
-- Consumed quantity (instance-hours, for capacity) is spread the same way.
-- Capacity = instance-hours x GPUs per instance (the pool's override, else the
-- catalog); unknown (NULL) when any instance-hour line has no GPU count. A
-- line whose tags say MIG (mig-profile, mig-slices) holds, per instance-hour,
-- its slices' compute share: a profile <n>g.* is n/7 of a GPU. Rate-card
-- lines state their capacity as GPU-Hours (MIG slices already as their share).
-- Capacity is summed in sevenths of a GPU-hour, so shares of 1/7 add exactly.
-- correction_cost: the part from Correction lines (a later export fixing this period).
-- Parameters: from DateTime, to DateTime, cost_basis String ('effective' | 'billed'),
--             gpu_types Array(String), gpu_counts Array(UInt32), pool_keys Array(String), pool_gpus Array(UInt32),
--             mig_profiles Array(String), mig_compute Array(UInt32)
SELECT
    hour AS period_start,
    hour + toIntervalHour(1) AS period_end,
    pool_id,
    billing_currency AS currency,
    reinterpret(toInt128(sum(cost_share)), 'Decimal(38, 12)') AS cost,
    reinterpret(toInt128(sumIf(cost_share, charge_class = 'Correction')), 'Decimal(38, 12)') AS correction_cost,
    if(countIf(is_hours AND sevenths = 0) = 0 AND countIf(is_hours OR is_gpu_hours) > 0,
       CAST(reinterpret(toInt128(intDiv(sumIf(quantity_share * sevenths, is_hours OR is_gpu_hours), 7)), 'Decimal(38, 12)') * 3600000 AS Nullable(Decimal(38, 3))),
       NULL) AS capacity_gpu_ms,
    max(billing_version) AS billing_version,
    max(is_estimated) AS estimated,
    arraySort(groupUniqArray(toString(source))) AS sources
FROM
(
    SELECT
        pool_id, billing_currency, billing_version, is_estimated, source, charge_class,
        consumed_unit IN ('Hours', 'Hour', 'Hrs', 'hours', 'hour', 'hrs', 'h') AS is_hours,
        consumed_unit = 'GPU-Hours' AS is_gpu_hours,
        transform(pool_id, {pool_keys:Array(String)}, {pool_gpus:Array(UInt32)},
                  transform(instance_type, {gpu_types:Array(String)}, {gpu_counts:Array(UInt32)}, toUInt32(0))) AS gpus,
        toUInt32OrZero(tags['mig-slices']) * transform(lower(tags['mig-profile']), {mig_profiles:Array(String)}, {mig_compute:Array(UInt32)}, toUInt32(0)) AS mig_sevenths,
        -- Sevenths of a GPU per unit of quantity: GPU-Hours are GPUs already; MIG tags give slices x compute; else GPUs x 7.
        multiIf(is_gpu_hours, toUInt64(7), mig_sevenths > 0, toUInt64(mig_sevenths), toUInt64(gpus) * 7) AS sevenths,
        -- Whole hours (import refuses others); a legacy line shorter than an hour counts as one.
        greatest(dateDiff('hour', charge_period_start, charge_period_end), 1) AS n,
        arrayJoin(range(toUInt64(greatest(dateDiff('hour', charge_period_start, {from:DateTime('UTC')}), 0)),
                        toUInt64(greatest(least(n, dateDiff('hour', charge_period_start, {to:DateTime('UTC')})), 0)))) AS i,
        charge_period_start + toIntervalHour(i) AS hour,
        reinterpretAsInt128(if({cost_basis:String} = 'billed', billed_cost, effective_cost)) AS cost_units,
        if(cost_units < 0, -1, 1) * (intDiv(abs(cost_units), n) + if(i < abs(cost_units) % n, 1, 0)) AS cost_share,
        reinterpretAsInt128(consumed_quantity) AS quantity_units,
        if(quantity_units < 0, -1, 1) * (intDiv(abs(quantity_units), n) + if(i < abs(quantity_units) % n, 1, 0)) AS quantity_share
    FROM billing_current
    WHERE charge_period_start < {to:DateTime('UTC')} AND charge_period_end > {from:DateTime('UTC')}
)
GROUP BY period_start, period_end, pool_id, currency
