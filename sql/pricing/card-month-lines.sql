-- The billing lines of a pool's month as its card stands now (the newest
-- recorded version of the (rate-card, pool, month) scope), one per hour.
-- Counted or not: a cloud bill may cover some of these hours.
-- Parameters: pool String, month_start DateTime
SELECT
    toString(charge_period_start) AS hour,
    toString(billing_version) AS line_version,
    toString(scope_version) AS written_in,
    toString(effective_cost) AS cost,
    toString(consumed_quantity) AS capacity,
    toString(billing_currency) AS currency,
    is_estimated AS estimated,
    source_file
FROM billing_line_items
WHERE source = 'rate-card' AND billing_account_id = {pool:String} AND scope_start = {month_start:DateTime('UTC')}
  AND scope_version = (
      SELECT max(billing_version) FROM billing_scopes
      WHERE source = 'rate-card' AND billing_account_id = {pool:String} AND scope_start = {month_start:DateTime('UTC')})
ORDER BY charge_period_start
