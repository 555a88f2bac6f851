-- Rate cards: prices for GPU pools no cloud bills by the hour (on-premises,
-- clouds that invoice monthly, internal contracts).
--
-- rate_cards holds every change ever made, never updated: each row is one
-- version of one pool's card, valid over [valid_from, valid_to). Where
-- versions overlap, the newest (changed_at) holds the hour. `inferledger
-- pricing` writes a row, then turns the pool's card into billing lines of
-- source `rate-card` (one per hour, scope = the pool's month, account = the
-- pool) for every month the change touches; the scheduled billing pull keeps
-- those months current as days pass and as months settle.
CREATE TABLE IF NOT EXISTS rate_cards
(
    change_id          UUID                          COMMENT 'The change; billing lines it prices name it in source_file (rate-card:<change_id>)',
    changed_at         DateTime64(6, 'UTC')          COMMENT 'When the change was made: the version. Where versions overlap, the newest holds the hour',
    changed_by         String                        COMMENT 'Who made it (--by, else the operating-system user)',
    reason             String                        COMMENT 'Why (--reason)',
    pool_id            LowCardinality(String)        COMMENT 'The pool priced',
    valid_from         DateTime('UTC')               COMMENT 'First hour the version prices (inclusive)',
    valid_to           Nullable(DateTime('UTC'))     COMMENT 'End of what it prices (exclusive); NULL = open-ended',
    price_unit         LowCardinality(String)        COMMENT 'gpu-hour, instance-hour, slice-hour or month',
    price              Decimal(38, 12)               COMMENT 'Amount per price_unit',
    currency           LowCardinality(String)        COMMENT 'ISO 4217 currency',
    gpus               UInt32                        COMMENT 'Physical GPUs of the pool (for MIG: the GPUs the slices sit on)',
    instances          UInt32                        COMMENT 'Instances, when priced per instance-hour; else 0',
    gpus_per_instance  UInt32                        COMMENT 'GPUs per instance, when priced per instance-hour; else 0',
    gpu_type           LowCardinality(String)        COMMENT 'GPU model, e.g. H100-80GB; empty when not given',
    mig_profile        LowCardinality(String)        COMMENT 'MIG profile of the slices, e.g. 1g.10gb; empty when whole GPUs',
    mig_slices         UInt32                        COMMENT 'MIG slices in the pool; 0 when whole GPUs',
    time_sliced        Bool                          COMMENT 'GPUs shared by time-slicing: capacity stays the physical GPUs',
    capacity_gpus      Decimal(38, 12)               COMMENT 'Compute capacity in GPUs: gpus, or slices x the profile''s compute share',
    hourly_cost        Decimal(38, 12)               COMMENT 'Cost of one hour (price x GPUs, instances or slices); 0 for a monthly price, spread over the month''s hours',
    replaced           Array(UUID)                   COMMENT 'Versions the change displaced in the hours it holds (old -> new)',
    replaced_text      String                        COMMENT 'Those versions in words, as pricing list --history shows them',
    restated_hours     UInt64                        COMMENT 'Billed hours whose cost or capacity the change altered when it was made',
    restated_cost      Decimal(38, 12)               COMMENT 'New minus old cost of those hours',
    restated_months    Array(Date)                   COMMENT 'Months whose card lines the change rewrote'
)
ENGINE = MergeTree
ORDER BY (pool_id, changed_at);

-- A scope's version and a line's version part ways for rate cards: a new
-- version of a pool's month keeps, on every hour it leaves unchanged, the
-- billing_version that hour already had, so attribution's watermarks see
-- those days unchanged and re-attribute only the days a change touched.
-- Other sources write one version for both.
ALTER TABLE billing_line_items
    ADD COLUMN IF NOT EXISTS scope_version DateTime64(6, 'UTC') DEFAULT billing_version
        COMMENT 'Version of the scope (billing_scopes.billing_version) the line was written in; equals billing_version except for rate-card lines carried over unchanged';

-- Every source's bill as it stands: the newest recorded version of each scope.
-- superseded, a line not counted because another source covers it:
--   a Cost Explorer line on a day an export of record holds charges for the
--   same account (any account when Cost Explorer's account is `default`);
--   a rate-card hour of a pool that a cloud bill (a Usage line of any other
--   source, as it stands) covers: the bill counts, the card does not.
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
        WHERE source NOT IN ('aws-cost-explorer', 'rate-card')
    ),
    billed_card_hours AS (
        SELECT DISTINCT
            pool_id,
            arrayJoin(arrayMap(i -> charge_period_start + toIntervalHour(i),
                               range(toUInt64(greatest(dateDiff('hour', charge_period_start, charge_period_end), 1))))) AS hour
        FROM billing_line_items
        WHERE source != 'rate-card' AND charge_category = 'Usage'
          AND pool_id IN (SELECT billing_account_id FROM current_scopes WHERE source = 'rate-card')
          AND (source, billing_account_id, scope_start, scope_version) IN (
              SELECT source, billing_account_id, scope_start, version FROM current_scopes)
    )
SELECT
    *,
    (source = 'aws-cost-explorer'
        AND ((billing_account_id, toDate(charge_period_start)) IN (SELECT billing_account_id, day FROM record_days)
             OR (billing_account_id = 'default' AND toDate(charge_period_start) IN (SELECT day FROM record_days))))
    OR (source = 'rate-card' AND (pool_id, charge_period_start) IN (SELECT pool_id, hour FROM billed_card_hours)) AS superseded
FROM billing_line_items
WHERE (source, billing_account_id, scope_start, scope_version) IN (
    SELECT source, billing_account_id, scope_start, version FROM current_scopes);

-- The bill as it counts: one source per pool-hour and per account and day.
CREATE OR REPLACE VIEW billing_current AS
SELECT * EXCEPT (superseded)
FROM billing_current_by_source
WHERE NOT superseded;
