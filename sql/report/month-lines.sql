-- Chargeback report: the month's attributed traffic per (owner, model,
-- feature, pool, currency). owner is the team or the tenant. cost is fully
-- loaded (idle of the hours with traffic spread over it), used_cost the GPU
-- time used; both exact Decimal(38, 12) sums. The idle policy is applied
-- afterwards, in integer units (src/report/idle-policy.ts).
-- Parameters: month_start DateTime, month_end DateTime, by String ('team' | 'tenant')
SELECT
    if({by:String} = 'tenant', tenant_id, toString(team)) AS owner,
    toString(model_id) AS model_id,
    toString(feature_id) AS feature_id,
    toString(pool_id) AS pool_id,
    toString(currency) AS currency,
    sum(requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(gpu_ms) AS gpu_ms,
    sum(cost) AS cost,
    sum(used_cost) AS used_cost,
    max(estimated) AS estimated
FROM cost_allocation
WHERE period_start >= {month_start:DateTime('UTC')} AND period_start < {month_end:DateTime('UTC')}
GROUP BY owner, model_id, feature_id, pool_id, currency
ORDER BY currency, pool_id, owner, model_id, feature_id
SETTINGS prefer_column_name_to_alias = 1
