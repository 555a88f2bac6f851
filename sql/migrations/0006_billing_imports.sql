-- Billing imports become all or nothing, and are scoped by what a bill restates.
--
-- An import (one `ingest billing` command, or one account's days of a
-- `collect billing` run) writes its line items under a new billing_version,
-- then records every restatement scope it covers in billing_scopes in ONE
-- insert. A version no billing_scopes row names (a killed or failed import)
-- is invisible. The newest recorded version of a scope replaces it:
--   exports (focus-file, aws-cur-file): (source, billing account, billing period);
--   Cost Explorer: (source, account, UTC day).
-- So a later export's Correction rows (charge period in an earlier, closed
-- billing period) add to that period instead of replacing it.

ALTER TABLE billing_line_items
    ADD COLUMN IF NOT EXISTS billing_period_start DateTime('UTC') DEFAULT toDateTime(toStartOfMonth(charge_period_start), 'UTC')
        COMMENT 'Start of the billing period the line was billed in (FOCUS BillingPeriodStart, CUR bill_billing_period_start_date; Cost Explorer: the month). A Correction line has it after its charge period',
    ADD COLUMN IF NOT EXISTS billing_period_end DateTime('UTC') DEFAULT toDateTime(toStartOfMonth(charge_period_start), 'UTC') + toIntervalMonth(1)
        COMMENT 'End of that billing period, exclusive (FOCUS BillingPeriodEnd)',
    ADD COLUMN IF NOT EXISTS charge_frequency LowCardinality(String) DEFAULT ''
        COMMENT 'One-Time, Recurring or Usage-Based (FOCUS ChargeFrequency); empty when the source does not say',
    ADD COLUMN IF NOT EXISTS scope_start DateTime('UTC') DEFAULT toStartOfDay(charge_period_start)
        COMMENT 'Restatement scope the line belongs to, with source and billing_account_id: the billing period start for exports, the UTC day for Cost Explorer (and for lines written before scopes existed)';

-- Lines longer than an hour are read by every day they overlap: let the engine skip granules that end before the day.
ALTER TABLE billing_line_items ADD INDEX IF NOT EXISTS charge_period_end_minmax charge_period_end TYPE minmax GRANULARITY 1;

CREATE TABLE IF NOT EXISTS billing_scopes
(
    source              LowCardinality(String)        COMMENT 'focus-file, aws-cur-file, aws-cost-explorer',
    billing_account_id  String                        COMMENT 'Billing account (Cost Explorer: the configured account id, or default)',
    scope_start         DateTime('UTC')               COMMENT 'Start of what the import restates: billing period (exports) or UTC day (Cost Explorer)',
    scope_end           DateTime('UTC')               COMMENT 'End of the scope, exclusive',
    billing_version     DateTime64(6, 'UTC')          COMMENT 'Version of the line items that now hold the scope; newest recorded wins',
    import_id           String                        COMMENT 'The import: ingest_runs.run_id of a file import, billing_api_calls.run_id of a pull; empty for rows back-filled by this migration',
    rows                UInt64                        COMMENT 'Line items of the scope in this version; 0 = the scope is now empty (e.g. an account no longer configured, or a superseded finer scope)',
    effective_cost      Map(String, Decimal(38, 12))  COMMENT 'Sum of effective_cost per currency: what a reader must find',
    billed_cost         Map(String, Decimal(38, 12))  COMMENT 'Sum of billed_cost per currency',
    record_days         Array(Date)                   COMMENT 'Exports only: UTC days on which the scope holds charges of at most a day (corrections aside); there it replaces Cost Explorer for the account',
    completed_at        DateTime64(3, 'UTC')          COMMENT 'When the import was recorded complete'
)
ENGINE = ReplacingMergeTree(completed_at)
ORDER BY (source, billing_account_id, scope_start, billing_version);

-- Back-fill: what was visible before stays visible (scope = the UTC day, as it was).
INSERT INTO billing_scopes (source, billing_account_id, scope_start, scope_end, billing_version, import_id, rows, effective_cost, billed_cost, record_days, completed_at)
SELECT
    source, billing_account_id, scope_start, scope_start + toIntervalDay(1), billing_version, '', count(),
    sumMap(map(billing_currency, effective_cost)), sumMap(map(billing_currency, billed_cost)),
    [toDate(scope_start)], now64(3)
FROM billing_line_items
WHERE (source, billing_account_id, scope_start, billing_version) NOT IN (
    SELECT source, billing_account_id, scope_start, billing_version FROM billing_scopes)
GROUP BY source, billing_account_id, scope_start, billing_version;

-- Every source's bill as it stands: the newest recorded version of each scope.
-- superseded: a Cost Explorer line on a day an export of record holds charges for the
-- same account (any account when Cost Explorer's account is `default`): not counted.
CREATE OR REPLACE VIEW billing_current_by_source AS
WITH
    current_scopes AS (
        SELECT source, billing_account_id, scope_start, max(billing_version) AS version, argMax(record_days, billing_version) AS days
        FROM billing_scopes
        GROUP BY source, billing_account_id, scope_start
    ),
    record_days AS (
        SELECT DISTINCT billing_account_id, arrayJoin(days) AS day
        FROM current_scopes
        WHERE source != 'aws-cost-explorer'
    )
SELECT
    *,
    source = 'aws-cost-explorer'
        AND ((billing_account_id, toDate(charge_period_start)) IN (SELECT billing_account_id, day FROM record_days)
             OR (billing_account_id = 'default' AND toDate(charge_period_start) IN (SELECT day FROM record_days))) AS superseded
FROM billing_line_items
WHERE (source, billing_account_id, scope_start, billing_version) IN (
    SELECT source, billing_account_id, scope_start, version FROM current_scopes);

-- The bill as it counts: one source per account and day (an export of record beats Cost Explorer).
CREATE OR REPLACE VIEW billing_current AS
SELECT * EXCEPT (superseded)
FROM billing_current_by_source
WHERE NOT superseded;

ALTER TABLE pool_cost
    ADD COLUMN IF NOT EXISTS correction_cost Decimal(38, 12) DEFAULT 0
        COMMENT 'Part of billed_cost from Correction lines (ChargeClass = Correction of a later export); allocated like the rest of the hour' AFTER unallocated_cost;

ALTER TABLE coverage_daily
    ADD COLUMN IF NOT EXISTS correction_cost Decimal(38, 12) DEFAULT 0
        COMMENT 'Part of billed_cost from Correction lines' AFTER unallocated_cost,
    ADD COLUMN IF NOT EXISTS superseded_cost Decimal(38, 12) DEFAULT 0
        COMMENT 'Cost Explorer cost of the day not counted because an export of record covers the account and day' AFTER correction_cost,
    ADD COLUMN IF NOT EXISTS sources Array(String) DEFAULT []
        COMMENT 'Billing sources whose cost counts in the day (focus-file, aws-cur-file, aws-cost-explorer)' AFTER superseded_cost;
