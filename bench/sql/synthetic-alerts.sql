-- Synthetic attribution output for bench/alerts, generated inside the engine:
-- `keys` (model, feature) keys x `days` UTC days, one daily billing period
-- each, on `pools` pools at 60% utilisation and $2 per GPU-hour, with +-5%
-- noise in requests and GPU-ms. The first `regressed` keys double their GPU-ms
-- per request on the last day. Then pool_cost, cpp_daily and coverage_daily from it.
-- Parameters: start Date, days UInt32, keys UInt32, pools UInt32, regressed UInt32
INSERT INTO cost_allocation (period_start, period_end, pool_id, model_id, model_version, feature_id, tenant_id, team, requests,
                             input_tokens, output_tokens, gpu_ms, weight_basis, cost, used_cost, currency, billing_version, estimated, attributed_at)
SELECT
    toDateTime(toDate({start:Date}) + d, 'UTC') AS period_start,
    period_start + toIntervalDay(1) AS period_end,
    concat('pool-', toString(k % {pools:UInt32})) AS pool_id,
    concat('model-', toString(intDiv(k, 10))) AS model_id,
    if(k < {regressed:UInt32} AND d = {days:UInt32} - 1, 'v2', 'v1') AS model_version,
    concat('feature-', toString(k % 10)) AS feature_id,
    't1' AS tenant_id,
    'team' AS team,
    toUInt64(2000000 * (0.95 + (cityHash64(k, d, 1) % 1000) / 10000)) AS requests,
    0, 0,
    toDecimal128(requests * (50 + k % 100) * (0.95 + (cityHash64(k, d, 2) % 1000) / 10000)
                 * if(k < {regressed:UInt32} AND d = {days:UInt32} - 1, 2, 1), 3) AS gpu_ms,
    'gpu_ms',
    toDecimal128(toFloat64(gpu_ms) * 2 / 3600000 / 0.6, 12) AS cost,
    toDecimal128(toFloat64(gpu_ms) * 2 / 3600000, 12) AS used_cost,
    'USD',
    toDateTime64('2026-11-01 00:00:00', 6, 'UTC'),
    false,
    toDateTime64('2026-11-01 00:00:00', 3, 'UTC')
FROM (SELECT number % {keys:UInt32} AS k, intDiv(number, {keys:UInt32}) AS d FROM numbers({keys:UInt32} * {days:UInt32}));

INSERT INTO pool_cost (period_start, period_end, pool_id, currency, billed_cost, allocated_cost, used_cost, idle_cost, unallocated_cost,
                       capacity_gpu_ms, used_gpu_ms, utilization, requests, weight_basis, billing_version, estimated, attributed_at)
SELECT period_start, period_end, pool_id, currency, sum(cost), sum(cost), sum(used_cost), sum(cost) - sum(used_cost), toDecimal128(0, 12),
       toDecimal128(toFloat64(sum(gpu_ms)) / 0.6, 3), sum(gpu_ms), toDecimal64(0.6, 6), sum(requests), 'gpu_ms', any(billing_version), false, any(attributed_at)
FROM cost_allocation
GROUP BY period_start, period_end, pool_id, currency;

INSERT INTO cpp_daily (day, model_id, model_version, feature_id, team, tenant_id, currency, requests, input_tokens, output_tokens, gpu_ms,
                       cost, used_cost, cpp, cost_per_1k_tokens, estimated, attributed_at)
SELECT toDate(period_start), model_id, model_version, feature_id, team, tenant_id, currency, sum(requests), 0, 0, sum(gpu_ms),
       sum(cost), sum(used_cost), sum(cost) / sum(requests), NULL, false, any(attributed_at)
FROM cost_allocation
GROUP BY toDate(period_start), model_id, model_version, feature_id, team, tenant_id, currency;

INSERT INTO coverage_daily (day, currency, billed_cost, allocated_cost, idle_cost, unallocated_cost, requests, attributed_requests,
                            pending_requests, unknown_pool_requests, attributed_at)
SELECT toDate(period_start), currency, sum(billed_cost), sum(allocated_cost), sum(idle_cost), toDecimal128(0, 12), sum(requests), sum(requests),
       0, 0, any(attributed_at)
FROM pool_cost
GROUP BY toDate(period_start), currency;
