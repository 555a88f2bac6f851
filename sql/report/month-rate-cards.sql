-- Chargeback report: the rate-card versions that priced the month's counted
-- hours, one row per (pool, version, currency): the version as rate_cards
-- holds it (who set it, when, why, its price and GPUs) and the pool-hours of
-- the month its lines hold in billing_current, so not an hour a cloud bill
-- covers (those card lines are superseded and do not count). effective and
-- billed: the exact Decimal(38, 12) sums of those hours' EffectiveCost and
-- BilledCost (the report shows the one of its basis).
-- Parameters: month_start DateTime, month_end DateTime
SELECT
    l.pool AS pool_id,
    toString(c.change_id) AS change_id,
    toString(c.changed_at) AS changed_at,
    c.changed_by AS changed_by,
    c.reason AS reason,
    toString(c.price_unit) AS price_unit,
    toString(c.price) AS price,
    l.line_currency AS currency,
    c.gpus AS gpus,
    c.instances AS instances,
    c.gpus_per_instance AS gpus_per_instance,
    toString(c.gpu_type) AS gpu_type,
    toString(c.mig_profile) AS mig_profile,
    c.mig_slices AS mig_slices,
    c.time_sliced AS time_sliced,
    toString(c.capacity_gpus) AS capacity_gpus,
    l.line_hours AS hours,
    toString(l.effective_sum) AS effective,
    toString(l.billed_sum) AS billed
FROM
(
    -- One line per pool-hour: a version's lines counted in the month are its hours.
    SELECT
        toString(pool_id) AS pool,
        source_file AS card_file,
        toString(billing_currency) AS line_currency,
        count() AS line_hours,
        sum(effective_cost) AS effective_sum,
        sum(billed_cost) AS billed_sum
    FROM billing_current
    WHERE source = 'rate-card'
      AND charge_period_start >= {month_start:DateTime('UTC')} AND charge_period_start < {month_end:DateTime('UTC')}
    GROUP BY pool_id, source_file, billing_currency
) AS l
INNER JOIN rate_cards AS c ON concat('rate-card:', toString(c.change_id)) = l.card_file
ORDER BY l.pool, c.changed_at, c.change_id, l.line_currency
