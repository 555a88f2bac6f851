-- Rate card versions, oldest first: of the given pools, or of every pool when
-- the list is empty.
-- Parameters: pools Array(String)
SELECT
    toString(change_id) AS change_id,
    toString(changed_at) AS changed_at,
    changed_by,
    reason,
    toString(pool_id) AS pool_id,
    toString(valid_from) AS valid_from,
    if(valid_to IS NULL, '', toString(assumeNotNull(valid_to))) AS valid_to,
    toString(price_unit) AS price_unit,
    toString(price) AS price,
    toString(currency) AS currency,
    gpus,
    instances,
    gpus_per_instance,
    toString(gpu_type) AS gpu_type,
    toString(mig_profile) AS mig_profile,
    mig_slices,
    time_sliced,
    toString(capacity_gpus) AS capacity_gpus,
    toString(hourly_cost) AS hourly_cost,
    arrayMap(x -> toString(x), replaced) AS replaced,
    replaced_text,
    restated_hours,
    toString(restated_cost) AS restated_cost,
    arrayMap(x -> toString(x), restated_months) AS restated_months
FROM rate_cards
WHERE empty({pools:Array(String)}) OR has({pools:Array(String)}, toString(pool_id))
ORDER BY changed_at, change_id
