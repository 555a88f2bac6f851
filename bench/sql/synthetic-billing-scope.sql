-- Records the synthetic bill of bench/sql/synthetic-billing.sql complete, as an import does, so billing_current shows it.
-- Parameters: day DateTime, version DateTime64(6)
INSERT INTO billing_scopes (source, billing_account_id, scope_start, scope_end, billing_version, import_id, rows, effective_cost, billed_cost, record_days, completed_at)
SELECT 'focus-file', '111', {day:DateTime('UTC')}, {day:DateTime('UTC')} + toIntervalDay(1), {version:DateTime64(6, 'UTC')}, 'bench',
       count(), sumMap(map(billing_currency, effective_cost)), sumMap(map(billing_currency, billed_cost)), [toDate({day:DateTime('UTC')})], now64(3)
FROM billing_line_items
WHERE billing_version = {version:DateTime64(6, 'UTC')} AND scope_start = {day:DateTime('UTC')}
