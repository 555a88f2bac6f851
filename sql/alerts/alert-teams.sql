-- The teams of CPP alerts, which route them to the teams' webhooks
-- (alerts.routes): per alert asked, every team with requests of its key
-- (model, feature, currency, and tenant when the key has one) on the days of
-- its episode, first_day (opened) through last_day (its last evaluated day),
-- as attributed now. The alerts arrive in the request body as a table of
-- their own (`asked`), as in asked-cpp.sql; [from, to) spans their days so
-- the primary key skips the rest.
-- Parameters: asked Identifier (table: alert_id String, first_day Date, last_day Date, model_id String, feature_id String, by_tenant Bool, tenant String, currency String), from Date, to Date
SELECT
    a.alert_id AS alert_id,
    arraySort(groupUniqArray(toString(c.team))) AS teams
FROM cost_allocation AS c
INNER JOIN {asked:Identifier} AS a
    ON toString(c.model_id) = a.model_id AND toString(c.feature_id) = a.feature_id AND toString(c.currency) = a.currency
WHERE c.period_start >= toDateTime({from:Date}, 'UTC') AND c.period_start < toDateTime({to:Date}, 'UTC')
  AND toDate(c.period_start) >= a.first_day AND toDate(c.period_start) <= a.last_day
  AND (NOT a.by_tenant OR c.tenant_id = a.tenant)
  AND c.requests > 0
GROUP BY a.alert_id
ORDER BY alert_id
