-- What the raw tables hold, per pool and UTC day: requests (deduplicated),
-- GPU time and tokens, next to the billed cost of the current billing version.
-- A first look after an ingestion; attribution turns this into cost per prediction.
-- Parameters: none
WITH
    requests AS (
        SELECT toDate(ts) AS day, pool_id, count() AS requests,
               round(sum(gpu_ms) / 3600000, 3) AS gpu_hours,
               sum(input_tokens + output_tokens) AS tokens
        FROM inference_requests FINAL
        GROUP BY day, pool_id
    ),
    bill AS (
        SELECT toDate(charge_period_start) AS day, pool_id, billing_currency,
               sum(effective_cost) AS effective_cost, sum(billed_cost) AS billed_cost
        FROM billing_current
        GROUP BY day, pool_id, billing_currency
    )
SELECT
    coalesce(r.day, b.day) AS day,
    if(coalesce(r.pool_id, b.pool_id) = '', '(untagged)', coalesce(r.pool_id, b.pool_id)) AS pool,
    coalesce(r.requests, 0) AS requests,
    coalesce(r.gpu_hours, 0) AS gpu_hours,
    coalesce(r.tokens, 0) AS tokens,
    b.billing_currency AS currency,
    b.effective_cost AS effective_cost,
    b.billed_cost AS billed_cost
FROM requests AS r
FULL OUTER JOIN bill AS b ON r.day = b.day AND r.pool_id = b.pool_id
ORDER BY day, pool
SETTINGS join_use_nulls = 1
