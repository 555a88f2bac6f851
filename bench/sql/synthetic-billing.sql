-- Synthetic hourly bill for bench/attribution: one p5.48xlarge line per pool and hour of one UTC day.
-- Each day is its own restatement scope here (scope_start = the day), so filling several days keeps them all.
-- Parameters: day DateTime, pools UInt32, version DateTime64(6)
INSERT INTO billing_line_items
SELECT
    {version:DateTime64(6, 'UTC')} AS billing_version,
    'focus-file' AS source,
    'AWS' AS provider,
    '111' AS billing_account_id,
    '222' AS sub_account_id,
    {day:DateTime('UTC')} + toIntervalHour(hour) AS charge_period_start,
    {day:DateTime('UTC')} + toIntervalHour(hour + 1) AS charge_period_end,
    toDecimal128(98.32 + (pool % 7) / 100, 12) AS billed_cost,
    toDecimal128(70.7904 + (pool % 7) / 100, 12) AS effective_cost,
    toDecimal128(98.32, 12) AS list_cost,
    'USD' AS billing_currency,
    toDecimal128(1, 12) AS consumed_quantity,
    'Hours' AS consumed_unit,
    concat('i-', toString(pool)) AS resource_id,
    'Instance' AS resource_type,
    'p5.48xlarge' AS instance_type,
    'Amazon Elastic Compute Cloud' AS service_name,
    'Usage' AS charge_category,
    '' AS charge_class,
    'SKU' AS sku_id,
    'us-east-1' AS region,
    map('inference-pool', concat('pool-', toString(pool))) AS tags,
    concat('pool-', toString(pool)) AS pool_id,
    false AS is_estimated,
    'bench' AS source_file,
    0 AS source_line,
    toDateTime(toStartOfMonth({day:DateTime('UTC')}), 'UTC') AS billing_period_start,
    toDateTime(toStartOfMonth({day:DateTime('UTC')}), 'UTC') + toIntervalMonth(1) AS billing_period_end,
    'Usage-Based' AS charge_frequency,
    {day:DateTime('UTC')} AS scope_start,
    {version:DateTime64(6, 'UTC')} AS scope_version
FROM (SELECT intDiv(number, {pools:UInt32}) AS hour, number % {pools:UInt32} AS pool FROM numbers(24 * {pools:UInt32}))
