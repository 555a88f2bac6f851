-- Write the good rows of a staged Parquet file (stage-focus-parquet.sql) under the import's version.
INSERT INTO billing_line_items (
    billing_version, source, provider, billing_account_id, sub_account_id,
    charge_period_start, charge_period_end, billed_cost, effective_cost, list_cost,
    billing_currency, consumed_quantity, consumed_unit, resource_id, resource_type,
    instance_type, service_name, charge_category, charge_class, sku_id, region, tags,
    pool_id, is_estimated, source_file, source_line,
    billing_period_start, billing_period_end, charge_frequency, scope_start)
SELECT
    {billing_version:DateTime64(6, 'UTC')}, {source:String}, provider, billing_account_id, sub_account_id,
    charge_period_start_v, charge_period_end_v, billed_cost, effective_cost, list_cost,
    billing_currency, consumed_quantity, consumed_unit, resource_id, resource_type,
    instance_type, service_name, charge_category, charge_class, sku_id, region, tags,
    pool_id, false, {source_file:String}, line,
    billing_period_start, billing_period_end, charge_frequency, billing_period_start
FROM {staging:Identifier}
WHERE empty(problems);
