-- Raw GPU billing, FOCUS-aligned, versioned. Every pull or file import writes
-- a new billing_version (its pulled-at time) for the rows it covers; nothing
-- is updated in place, so each restatement stays auditable.
--
-- Which version counts: the unit of restatement is (source, billing account,
-- UTC day of the charge period start). The newest version of that unit
-- replaces every older one (see billing_current), so re-importing a file or
-- re-pulling a window replaces its numbers and never adds to them.
--
-- ORDER BY starts with the charge period and pool: attribution reads one
-- period's pools at a time. Versions sit last so old and new rows of one
-- period are neighbours.
CREATE TABLE IF NOT EXISTS billing_line_items
(
    billing_version     DateTime64(6, 'UTC')   COMMENT 'Version of this row: when it was pulled or imported. Newest per (source, billing_account_id, day) wins',
    source              LowCardinality(String)   COMMENT 'How it arrived: focus-file, aws-cur-file, aws-cost-explorer',
    provider            LowCardinality(String)   COMMENT 'Cloud provider (FOCUS ProviderName)',
    billing_account_id  String                   COMMENT 'Payer / billing account (FOCUS BillingAccountId)',
    sub_account_id      String                   COMMENT 'Linked / sub account (FOCUS SubAccountId)',
    charge_period_start DateTime('UTC')        COMMENT 'Start of the charge period, inclusive (FOCUS ChargePeriodStart)',
    charge_period_end   DateTime('UTC')        COMMENT 'End of the charge period, exclusive (FOCUS ChargePeriodEnd)',
    billed_cost         Decimal(38, 12)          COMMENT 'Invoiced cost (FOCUS BilledCost)',
    effective_cost      Decimal(38, 12)          COMMENT 'Amortized cost after discounts and commitments (FOCUS EffectiveCost); default basis for chargeback',
    list_cost           Decimal(38, 12)          COMMENT 'Cost at public list prices (FOCUS ListCost)',
    billing_currency    LowCardinality(String)   COMMENT 'ISO 4217 currency of the costs (FOCUS BillingCurrency)',
    consumed_quantity   Decimal(38, 12)          COMMENT 'Usage quantity (FOCUS ConsumedQuantity), e.g. instance-hours',
    consumed_unit       LowCardinality(String)   COMMENT 'Unit of consumed_quantity (FOCUS ConsumedUnit), e.g. Hours',
    resource_id         String                   COMMENT 'Billed resource, e.g. an instance id (FOCUS ResourceId)',
    resource_type       LowCardinality(String)   COMMENT 'Kind of resource (FOCUS ResourceType)',
    instance_type       LowCardinality(String)   COMMENT 'Instance type, e.g. p5.48xlarge, where the source gives it; sizes GPU capacity',
    service_name        LowCardinality(String)   COMMENT 'Cloud service (FOCUS ServiceName)',
    charge_category     LowCardinality(String)   COMMENT 'Usage, Purchase, Tax, Credit, Adjustment (FOCUS ChargeCategory)',
    charge_class        LowCardinality(String)   COMMENT 'Empty, or Correction for a restatement of an earlier period (FOCUS ChargeClass)',
    sku_id              String                   COMMENT 'Provider SKU (FOCUS SkuId)',
    region              LowCardinality(String)   COMMENT 'Region (FOCUS RegionId)',
    tags                Map(String, String)      COMMENT 'Resource tags (FOCUS Tags)',
    pool_id             LowCardinality(String)   COMMENT 'Value of the pool tag (configurable key, default inference-pool); empty = untagged, reported as unallocated',
    is_estimated        Bool                     COMMENT 'True while the provider marks the amounts as estimated (Cost Explorer Estimated)',
    source_file         String                   COMMENT 'File or API call the row came from',
    source_line         UInt64                   COMMENT 'Line (record) number within source_file; 0 for API pulls'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(charge_period_start)
ORDER BY (charge_period_start, pool_id, source, billing_account_id, billing_version);

-- The bill as it stands: only the newest version of each (source, account, day).
CREATE VIEW IF NOT EXISTS billing_current AS
SELECT *
FROM billing_line_items
WHERE (source, billing_account_id, toDate(charge_period_start), billing_version) IN (
    SELECT source, billing_account_id, toDate(charge_period_start), max(billing_version)
    FROM billing_line_items
    GROUP BY source, billing_account_id, toDate(charge_period_start)
);
