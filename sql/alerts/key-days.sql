-- Inputs of CPP alerts: per alert key (model, feature, tenant or '',
-- currency), every day of the window with its requests and both costs: what
-- judging a day against its baseline needs (CPP = cost / requests). One row
-- per key, its days sorted as parallel arrays: the window's 10^5 to 10^6
-- key-days travel as flat arrays of numbers, not as one JSON object each,
-- which is what reading them cost. The cells (pool, weight basis) that
-- explain a change are read only for the days alerts name (asked-cells.sql).
-- The day is its offset from `from` (UInt16); requests as Float64 (exact to
-- 2^53), so every number reads back unquoted. Costs as Float64: they only
-- make ratios here (the exact CPPs an alert stores come from asked-cpp.sql).
-- hours < 24 keeps only the billing periods within the first `hours` hours
-- of each day: the current day judged before it is over, against the same
-- hours of its baseline days.
-- Parameters: from Date, to Date, by_tenant Bool, hours UInt8
SELECT
    model_id,
    feature_id,
    tenant,
    currency,
    tupleElement(entries, 1) AS days,
    tupleElement(entries, 2) AS requests,
    tupleElement(entries, 3) AS cost,
    tupleElement(entries, 4) AS used_cost,
    tupleElement(entries, 5) AS estimated
FROM
(
    SELECT model_id, feature_id, tenant, currency, arraySort(groupArray((d, r, l, u, e))) AS entries
    FROM
    (
        SELECT
            toUInt16(dateDiff('day', {from:Date}, toDate(period_start))) AS d,
            toString(model_id) AS model_id,
            toString(feature_id) AS feature_id,
            if({by_tenant:Bool}, tenant_id, '') AS tenant,
            toString(currency) AS currency,
            toFloat64(sum(requests)) AS r,
            toFloat64(sum(cost)) AS l,
            toFloat64(sum(used_cost)) AS u,
            max(estimated) AS e
        FROM cost_allocation
        WHERE period_start >= toDateTime({from:Date}, 'UTC') AND period_start < toDateTime({to:Date}, 'UTC')
        AND ({hours:UInt8} >= 24 OR period_end <= toStartOfDay(period_start) + toIntervalHour({hours:UInt8}))
        GROUP BY d, model_id, feature_id, tenant, currency
    )
    GROUP BY model_id, feature_id, tenant, currency
)
