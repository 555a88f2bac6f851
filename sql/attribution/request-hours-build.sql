-- The hourly groups of some hours of a day, from the raw rows deduplicated
-- (FINAL): per (hour, pool, model, version, feature, tenant, the event's
-- team), the count and the sums attribution uses, with the same types. Each
-- row carries what its hour was built from: the raw count and fingerprint
-- and the table's newest mutation, read before this statement
-- (request-hours-state.sql), so rows that land meanwhile make the hour stale
-- again rather than current without them, and the hour's total, so an hour
-- written in part is seen as such.
-- Parameters: day_start DateTime, day_end DateTime, hours Array(DateTime), source_rows Array(UInt64),
--             source_fingerprints Array(UInt64), source_mutation UInt64, built_at DateTime64(3)
SELECT
    hour, pool_id, model_id, model_version, feature_id, tenant_id, team,
    requests, input_tokens, output_tokens, gpu_ms,
    sum(requests) OVER (PARTITION BY hour) AS hour_requests,
    {source_rows:Array(UInt64)}[indexOf({hours:Array(DateTime('UTC'))}, hour)] AS source_rows,
    {source_fingerprints:Array(UInt64)}[indexOf({hours:Array(DateTime('UTC'))}, hour)] AS source_fingerprint,
    {source_mutation:UInt64} AS source_mutation,
    {built_at:DateTime64(3, 'UTC')} AS built_at
FROM
(
    SELECT
        toStartOfHour(ts) AS hour,
        pool_id, model_id, model_version, feature_id, tenant_id, team,
        count() AS requests,
        sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens,
        sum(gpu_ms) AS gpu_ms
    FROM inference_requests FINAL
    WHERE ts >= {day_start:DateTime('UTC')} AND ts < {day_end:DateTime('UTC')}
      AND toStartOfHour(ts) IN {hours:Array(DateTime('UTC'))}
    GROUP BY hour, pool_id, model_id, model_version, feature_id, tenant_id, team
)
