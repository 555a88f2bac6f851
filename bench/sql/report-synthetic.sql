-- Synthetic attributed month for bench/report: the tables a chargeback pack
-- reads, consistent with each other and with the bill to the unit, written
-- directly in the engine (attributing a month of this size would measure
-- attribution, not the report). owners x models groups a day: model m runs on
-- pool-m, owner o is team-o (tenant-(o % 300)), one of two features per model.
-- Each pool-day is two billing periods: [day, day + 20 h) with the traffic,
-- [day + 20 h, day + 24 h) without (all idle); plus untagged storage a day.
-- Parameters: month_start DateTime, days UInt32, owners UInt32, models UInt32, version DateTime64(6)

INSERT INTO cost_allocation
SELECT
    {month_start:DateTime('UTC')} + toIntervalDay(d) AS period_start,
    {month_start:DateTime('UTC')} + toIntervalDay(d) + toIntervalHour(20) AS period_end,
    concat('pool-', toString(m)) AS pool_id,
    concat('model-', toString(m)) AS model_id,
    if(m % 5 = 0 AND o % 2 = 0, 'v2', 'v1') AS model_version,
    concat('feature-', toString(m), '-', toString(o % 2)) AS feature_id,
    concat('tenant-', toString(o % 300)) AS tenant_id,
    concat('team-', toString(o)) AS team,
    r AS requests,
    r * 300 AS input_tokens,
    r * 40 AS output_tokens,
    toDecimal128(r * (100 + m * 10), 3) AS gpu_ms,
    'gpu_ms' AS weight_basis,
    reinterpret(toInt128(r * 123456789 * (1 + m % 7)), 'Decimal(38, 12)') AS cost,
    reinterpret(toInt128(intDiv(r * 123456789 * (1 + m % 7) * 2, 5)), 'Decimal(38, 12)') AS used_cost,
    'USD' AS currency,
    {version:DateTime64(6, 'UTC')} AS billing_version,
    false AS estimated,
    now64(3) AS attributed_at
FROM
(
    SELECT
        intDiv(number, {owners:UInt32} * {models:UInt32}) AS d,
        intDiv(number % ({owners:UInt32} * {models:UInt32}), {models:UInt32}) AS o,
        number % {models:UInt32} AS m,
        50 + cityHash64(number) % 1000 AS r
    FROM numbers({days:UInt32} * {owners:UInt32} * {models:UInt32})
);

INSERT INTO pool_cost (period_start, period_end, pool_id, currency, billed_cost, allocated_cost, used_cost, idle_cost, unallocated_cost,
                       capacity_gpu_ms, used_gpu_ms, utilization, requests, weight_basis, billing_version, estimated, attributed_at)
SELECT
    period_start, period_end, pool_id, currency, sum(cost), sum(cost), sum(used_cost), sum(cost) - sum(used_cost), toDecimal128(0, 12),
    CAST(sum(gpu_ms) * 2 AS Nullable(Decimal(38, 3))), sum(gpu_ms), CAST(0.5 AS Nullable(Decimal(18, 6))), sum(requests), 'gpu_ms',
    {version:DateTime64(6, 'UTC')}, false, now64(3)
FROM cost_allocation
WHERE period_start >= {month_start:DateTime('UTC')}
GROUP BY period_start, period_end, pool_id, currency;

INSERT INTO pool_cost (period_start, period_end, pool_id, currency, billed_cost, allocated_cost, used_cost, idle_cost, unallocated_cost,
                       capacity_gpu_ms, used_gpu_ms, utilization, requests, weight_basis, billing_version, estimated, attributed_at)
SELECT
    {month_start:DateTime('UTC')} + toIntervalDay(d) + toIntervalHour(if(m < 0, 0, 20)) AS period_start,
    {month_start:DateTime('UTC')} + toIntervalDay(d + 1) AS period_end,
    if(m < 0, '', concat('pool-', toString(m))) AS pool_id,
    'USD', toDecimal128(if(m < 0, '1.6', '3.5'), 12), toDecimal128(0, 12), toDecimal128(0, 12),
    toDecimal128(if(m < 0, '0', '3.5'), 12), toDecimal128(if(m < 0, '1.6', '0'), 12),
    if(m < 0, NULL, CAST(14400000 AS Nullable(Decimal(38, 3)))), toDecimal128(0, 3), if(m < 0, NULL, CAST(0 AS Nullable(Decimal(18, 6)))), 0,
    if(m < 0, '', 'gpu_ms'), {version:DateTime64(6, 'UTC')}, false, now64(3)
FROM (SELECT intDiv(number, {models:UInt32} + 1) AS d, toInt64(number % ({models:UInt32} + 1)) - 1 AS m FROM numbers({days:UInt32} * ({models:UInt32} + 1)));

INSERT INTO cpp_daily
SELECT
    toDate(period_start) AS day, model_id, model_version, feature_id, team, tenant_id, currency,
    sum(requests), sum(input_tokens), sum(output_tokens), sum(gpu_ms), sum(cost), sum(used_cost),
    sum(cost) / sum(requests), sum(cost) * 1000 / (sum(input_tokens) + sum(output_tokens)), false, now64(3)
FROM cost_allocation
WHERE period_start >= {month_start:DateTime('UTC')}
GROUP BY day, model_id, model_version, feature_id, team, tenant_id, currency
SETTINGS prefer_column_name_to_alias = 1;

INSERT INTO coverage_daily (day, currency, billed_cost, allocated_cost, idle_cost, unallocated_cost, requests, attributed_requests, pending_requests, unknown_pool_requests, attributed_at)
SELECT toDate(period_start), currency, sum(billed_cost), sum(allocated_cost), sum(idle_cost), sum(unallocated_cost), sum(requests), sum(requests), 0, 0, now64(3)
FROM pool_cost
WHERE period_start >= {month_start:DateTime('UTC')}
GROUP BY toDate(period_start), currency;

-- The bill the pool-periods came from: one line each, in one export (billing period = the month).
INSERT INTO billing_line_items
SELECT
    {version:DateTime64(6, 'UTC')} AS billing_version, 'focus-file' AS source, 'AWS' AS provider, '111' AS billing_account_id, '222' AS sub_account_id,
    period_start AS charge_period_start, period_end AS charge_period_end, billed_cost, billed_cost AS effective_cost, billed_cost AS list_cost,
    'USD' AS billing_currency, toDecimal128(1, 12) AS consumed_quantity, 'Hours' AS consumed_unit, 'i-bench' AS resource_id, 'Instance' AS resource_type,
    'bench-gpu' AS instance_type, 'Amazon Elastic Compute Cloud' AS service_name, 'Usage' AS charge_category, '' AS charge_class, 'SKU' AS sku_id,
    'us-east-1' AS region, if(pool_id = '', map(), map('inference-pool', toString(pool_id))) AS tags, toString(pool_id) AS pool_id, false AS is_estimated,
    'bench' AS source_file, 0 AS source_line,
    {month_start:DateTime('UTC')} AS billing_period_start, {month_start:DateTime('UTC')} + toIntervalMonth(1) AS billing_period_end,
    'Usage-Based' AS charge_frequency, {month_start:DateTime('UTC')} AS scope_start, {version:DateTime64(6, 'UTC')} AS scope_version
FROM pool_cost
WHERE period_start >= {month_start:DateTime('UTC')};

INSERT INTO billing_scopes (source, billing_account_id, scope_start, scope_end, billing_version, import_id, rows, effective_cost, billed_cost, record_days, completed_at)
SELECT 'focus-file', '111', {month_start:DateTime('UTC')}, {month_start:DateTime('UTC')} + toIntervalMonth(1), {version:DateTime64(6, 'UTC')}, 'bench',
       count(), sumMap(map(billing_currency, effective_cost)), sumMap(map(billing_currency, billed_cost)), [], now64(3)
FROM billing_line_items
WHERE billing_version = {version:DateTime64(6, 'UTC')};
