-- Stage an AWS CUR 2.0 Parquet file for import from its rows as loaded
-- (load-parquet-file.sql or load-parquet-body.sql into {raw:Identifier}), with
-- the same meaning and the same checks as a CUR CSV line
-- (src/billing/file-formats.ts): a null cell reads as an empty one, required
-- columns must hold a value, decimals and date-times are parsed exactly,
-- charge periods lie on whole hours, and costs follow AWS's own FOCUS mapping
-- (effective cost of reservation and savings-plan lines, charge category and
-- frequency from line_item_line_item_type). The output has the columns of
-- stage-focus-parquet.sql, so the same statements write the good rows, list
-- the bad ones (`problems`: (column, reason), the first one is reported) and
-- total them.
--
-- CUR 2.0 Parquet types its columns (timestamps, doubles, resource_tags and
-- product as maps); the raw table reads each as Nullable(String)
-- (resource_tags, product: Map(String, Nullable(String)) when the file holds a
-- map), so an absent column reads as null and a double arrives as its
-- shortest exact text.
CREATE TABLE {staging:Identifier}
ENGINE = MergeTree ORDER BY line
AS SELECT
    line, raw,
    ifNull(charge_period_start, toDateTime(0, 'UTC')) AS charge_period_start_v,
    ifNull(charge_period_end, toDateTime(0, 'UTC')) AS charge_period_end_v,
    billing_period_start, billing_period_end, inferred,
    multiIf(v_line_item_line_item_type IN ('RIFee', 'SavingsPlanRecurringFee'), 'Recurring',
            v_line_item_line_item_type IN ('Fee', 'SavingsPlanUpfrontFee'), 'One-Time', 'Usage-Based') AS charge_frequency,
    ifNull(d_line_item_unblended_cost, toDecimal128(0, 12)) AS billed_cost,
    -- Usage covered by a reservation or a savings plan costs its effective cost; what amortization replaces costs 0.
    multiIf(v_line_item_line_item_type = 'DiscountedUsage', ifNull(d_reservation_effective_cost, toDecimal128(0, 12)),
            v_line_item_line_item_type = 'SavingsPlanCoveredUsage', ifNull(d_savings_plan_savings_plan_effective_cost, toDecimal128(0, 12)),
            v_line_item_line_item_type IN ('SavingsPlanNegation', 'SavingsPlanRecurringFee', 'RIFee'), toDecimal128(0, 12),
            ifNull(d_line_item_unblended_cost, toDecimal128(0, 12))) AS effective_cost,
    ifNull(d_pricing_public_on_demand_cost, toDecimal128(0, 12)) AS list_cost,
    v_line_item_currency_code AS billing_currency,
    ifNull(d_line_item_usage_amount, toDecimal128(0, 12)) AS consumed_quantity,
    v_pricing_unit AS consumed_unit,
    'AWS' AS provider,
    v_bill_payer_account_id AS billing_account_id,
    v_line_item_usage_account_id AS sub_account_id,
    v_line_item_resource_id AS resource_id,
    '' AS resource_type,
    -- An export that leaves a flat product column out or empty may still carry the attribute in the product map.
    if(v_product_instance_type != '', v_product_instance_type, trimBoth(JSONExtractString(product_text, 'instance_type'))) AS instance_type,
    v_line_item_product_code AS service_name,
    -- FOCUS ChargeCategory per line item type, as in curChargeCategory (src/billing/file-formats.ts).
    multiIf(v_line_item_line_item_type = 'Tax', 'Tax',
            v_line_item_line_item_type = 'Credit', 'Credit',
            v_line_item_line_item_type = 'Refund', 'Adjustment',
            v_line_item_line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation',
                                           'Discount', 'BundledDiscount', 'EdpDiscount', 'PrivateRateDiscount'), 'Usage',
            endsWith(v_line_item_line_item_type, 'Fee'), 'Purchase', 'Usage') AS charge_category,
    -- FOCUS: a line billed in a later period than its charge corrects a period already invoiced.
    if(charge_period_start_v < billing_period_start, 'Correction', '') AS charge_class,
    v_product_sku AS sku_id,
    multiIf(v_product_region_code != '', v_product_region_code,
            trimBoth(JSONExtractString(product_text, 'region_code')) != '', trimBoth(JSONExtractString(product_text, 'region_code')),
            trimBoth(JSONExtractString(product_text, 'region'))) AS region,
    tags,
    trimBoth(multiIf(
        mapContains(tags, {pool_tag_key:String}), tags[{pool_tag_key:String}],
        mapContains(tags, concat('user:', {pool_tag_key:String})), tags[concat('user:', {pool_tag_key:String})],
        tags[concat('user_', {pool_tag_key:String})])) AS pool_id,
    -- A bad column hides the period checks, as in the CSV path (billing period first, as there).
    if(notEmpty(column_problems), column_problems, arrayFilter(p -> p.2 != '', [
        ('bill_billing_period_start_date', if(v_bill_billing_period_start_date = '' AND v_bill_billing_period_end_date != '', 'is required when bill_billing_period_end_date is given', '')),
        ('bill_billing_period_end_date', if(v_bill_billing_period_end_date = '' AND v_bill_billing_period_start_date != '', 'is required when bill_billing_period_start_date is given', '')),
        ('bill_billing_period_end_date', if(v_bill_billing_period_start_date != '' AND v_bill_billing_period_end_date != '' AND billing_period_end <= billing_period_start, 'must be after the billing period start', '')),
        ('line_item_usage_start_date', if(toUnixTimestamp(charge_period_start) % 3600 != 0, concat('must be on a whole hour (charges are spread over whole hours), got ', toString(charge_period_start)), '')),
        ('line_item_usage_end_date', if(toUnixTimestamp(charge_period_end) % 3600 != 0, concat('must be on a whole hour (charges are spread over whole hours), got ', toString(charge_period_end)), '')),
        ('line_item_usage_end_date', if(charge_period_end <= charge_period_start, 'must be after the charge period start', ''))])) AS problems
FROM
(
    SELECT
        *,
        arrayFilter(p -> p.2 != '', [
            ('line_item_usage_start_date', multiIf(NOT dt_ok_line_item_usage_start_date, concat('must be an ISO-8601 date-time, got ', toJSONString(substring(v_line_item_usage_start_date, 1, 40))), toUnixTimestamp64Milli(p_line_item_usage_start_date) % 1000 != 0, 'must be whole seconds', '')),
            ('line_item_usage_end_date', multiIf(NOT dt_ok_line_item_usage_end_date, concat('must be an ISO-8601 date-time, got ', toJSONString(substring(v_line_item_usage_end_date, 1, 40))), toUnixTimestamp64Milli(p_line_item_usage_end_date) % 1000 != 0, 'must be whole seconds', '')),
            ('bill_billing_period_start_date', if(v_bill_billing_period_start_date = '', '', multiIf(NOT dt_ok_bill_billing_period_start_date, concat('must be an ISO-8601 date-time, got ', toJSONString(substring(v_bill_billing_period_start_date, 1, 40))), toUnixTimestamp64Milli(p_bill_billing_period_start_date) % 1000 != 0, 'must be whole seconds', ''))),
            ('bill_billing_period_end_date', if(v_bill_billing_period_end_date = '', '', multiIf(NOT dt_ok_bill_billing_period_end_date, concat('must be an ISO-8601 date-time, got ', toJSONString(substring(v_bill_billing_period_end_date, 1, 40))), toUnixTimestamp64Milli(p_bill_billing_period_end_date) % 1000 != 0, 'must be whole seconds', ''))),
            ('line_item_unblended_cost', multiIf(NOT dec_ok_line_item_unblended_cost, concat('must be a decimal number, got ', toJSONString(substring(v_line_item_unblended_cost, 1, 40))), d_line_item_unblended_cost IS NULL, concat('does not fit Decimal(38, 12): more than 26 digits before the point, got ', toJSONString(substring(v_line_item_unblended_cost, 1, 40))), '')),
            ('line_item_currency_code', if(NOT match(v_line_item_currency_code, '^[A-Z]{3}$'), 'must be a three-letter ISO 4217 code', '')),
            ('reservation_effective_cost', if(v_reservation_effective_cost = '', '', multiIf(NOT dec_ok_reservation_effective_cost, concat('must be a decimal number, got ', toJSONString(substring(v_reservation_effective_cost, 1, 40))), d_reservation_effective_cost IS NULL, concat('does not fit Decimal(38, 12): more than 26 digits before the point, got ', toJSONString(substring(v_reservation_effective_cost, 1, 40))), ''))),
            ('savings_plan_savings_plan_effective_cost', if(v_savings_plan_savings_plan_effective_cost = '', '', multiIf(NOT dec_ok_savings_plan_savings_plan_effective_cost, concat('must be a decimal number, got ', toJSONString(substring(v_savings_plan_savings_plan_effective_cost, 1, 40))), d_savings_plan_savings_plan_effective_cost IS NULL, concat('does not fit Decimal(38, 12): more than 26 digits before the point, got ', toJSONString(substring(v_savings_plan_savings_plan_effective_cost, 1, 40))), ''))),
            ('pricing_public_on_demand_cost', if(v_pricing_public_on_demand_cost = '', '', multiIf(NOT dec_ok_pricing_public_on_demand_cost, concat('must be a decimal number, got ', toJSONString(substring(v_pricing_public_on_demand_cost, 1, 40))), d_pricing_public_on_demand_cost IS NULL, concat('does not fit Decimal(38, 12): more than 26 digits before the point, got ', toJSONString(substring(v_pricing_public_on_demand_cost, 1, 40))), ''))),
            ('line_item_usage_amount', if(v_line_item_usage_amount = '', '', multiIf(NOT dec_ok_line_item_usage_amount, concat('must be a decimal number, got ', toJSONString(substring(v_line_item_usage_amount, 1, 40))), d_line_item_usage_amount IS NULL, concat('does not fit Decimal(38, 12): more than 26 digits before the point, got ', toJSONString(substring(v_line_item_usage_amount, 1, 40))), ''))),
            ('resource_tags', if(tags_json IS NOT NULL AND NOT (isValidJSON(tags_json) AND JSONType(tags_json) = 'Object'), 'must be a JSON object of tags', ''))]) AS column_problems,
        toDateTime(p_line_item_usage_start_date, 'UTC') AS charge_period_start,
        toDateTime(p_line_item_usage_end_date, 'UTC') AS charge_period_end,
        -- A line without a billing period (older export shapes) is billed in the month of its charge.
        v_bill_billing_period_start_date = '' AND v_bill_billing_period_end_date = '' AS inferred,
        if(inferred, toDateTime(toStartOfMonth(ifNull(charge_period_start, toDateTime(0, 'UTC'))), 'UTC'), ifNull(toDateTime(p_bill_billing_period_start_date, 'UTC'), toDateTime(0, 'UTC'))) AS billing_period_start,
        if(inferred, toDateTime(toStartOfMonth(ifNull(charge_period_start, toDateTime(0, 'UTC'))), 'UTC') + toIntervalMonth(1), ifNull(toDateTime(p_bill_billing_period_end_date, 'UTC'), toDateTime(0, 'UTC'))) AS billing_period_end,
        CAST(arrayMap(kv -> (kv.1, if(JSONType(kv.2) = 'String', JSONExtractString(kv.2), kv.2)),
                      arrayFilter(kv -> JSONType(kv.2) != 'Null', JSONExtractKeysAndValuesRaw(ifNull(tags_json, '{}')))),
             'Map(String, String)') AS tags
    FROM
    (
        SELECT
            *,
            match(v_line_item_usage_start_date, '(?i)^(\\d{4}-\\d{2}-\\d{2})(?:[T ](\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?))?(?:Z|[+-]\\d{2}(?::?\\d{2})?| ?UTC)?$') AND toString(toDateOrNull(substring(v_line_item_usage_start_date, 1, 10))) = substring(v_line_item_usage_start_date, 1, 10) AND parseDateTime64BestEffortOrNull(v_line_item_usage_start_date, 3, 'UTC') IS NOT NULL AS dt_ok_line_item_usage_start_date,
            if(dt_ok_line_item_usage_start_date, parseDateTime64BestEffortOrNull(v_line_item_usage_start_date, 3, 'UTC'), NULL) AS p_line_item_usage_start_date,
            match(v_line_item_usage_end_date, '(?i)^(\\d{4}-\\d{2}-\\d{2})(?:[T ](\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?))?(?:Z|[+-]\\d{2}(?::?\\d{2})?| ?UTC)?$') AND toString(toDateOrNull(substring(v_line_item_usage_end_date, 1, 10))) = substring(v_line_item_usage_end_date, 1, 10) AND parseDateTime64BestEffortOrNull(v_line_item_usage_end_date, 3, 'UTC') IS NOT NULL AS dt_ok_line_item_usage_end_date,
            if(dt_ok_line_item_usage_end_date, parseDateTime64BestEffortOrNull(v_line_item_usage_end_date, 3, 'UTC'), NULL) AS p_line_item_usage_end_date,
            match(v_bill_billing_period_start_date, '(?i)^(\\d{4}-\\d{2}-\\d{2})(?:[T ](\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?))?(?:Z|[+-]\\d{2}(?::?\\d{2})?| ?UTC)?$') AND toString(toDateOrNull(substring(v_bill_billing_period_start_date, 1, 10))) = substring(v_bill_billing_period_start_date, 1, 10) AND parseDateTime64BestEffortOrNull(v_bill_billing_period_start_date, 3, 'UTC') IS NOT NULL AS dt_ok_bill_billing_period_start_date,
            if(dt_ok_bill_billing_period_start_date, parseDateTime64BestEffortOrNull(v_bill_billing_period_start_date, 3, 'UTC'), NULL) AS p_bill_billing_period_start_date,
            match(v_bill_billing_period_end_date, '(?i)^(\\d{4}-\\d{2}-\\d{2})(?:[T ](\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?))?(?:Z|[+-]\\d{2}(?::?\\d{2})?| ?UTC)?$') AND toString(toDateOrNull(substring(v_bill_billing_period_end_date, 1, 10))) = substring(v_bill_billing_period_end_date, 1, 10) AND parseDateTime64BestEffortOrNull(v_bill_billing_period_end_date, 3, 'UTC') IS NOT NULL AS dt_ok_bill_billing_period_end_date,
            if(dt_ok_bill_billing_period_end_date, parseDateTime64BestEffortOrNull(v_bill_billing_period_end_date, 3, 'UTC'), NULL) AS p_bill_billing_period_end_date,
            match(v_line_item_unblended_cost, '^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d{1,3})?$') AS dec_ok_line_item_unblended_cost,
            accurateCastOrNull(round(toDecimal256OrNull(v_line_item_unblended_cost, 24), 12), 'Decimal(38, 12)') AS d_line_item_unblended_cost,
            match(v_reservation_effective_cost, '^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d{1,3})?$') AS dec_ok_reservation_effective_cost,
            accurateCastOrNull(round(toDecimal256OrNull(v_reservation_effective_cost, 24), 12), 'Decimal(38, 12)') AS d_reservation_effective_cost,
            match(v_savings_plan_savings_plan_effective_cost, '^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d{1,3})?$') AS dec_ok_savings_plan_savings_plan_effective_cost,
            accurateCastOrNull(round(toDecimal256OrNull(v_savings_plan_savings_plan_effective_cost, 24), 12), 'Decimal(38, 12)') AS d_savings_plan_savings_plan_effective_cost,
            match(v_pricing_public_on_demand_cost, '^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d{1,3})?$') AS dec_ok_pricing_public_on_demand_cost,
            accurateCastOrNull(round(toDecimal256OrNull(v_pricing_public_on_demand_cost, 24), 12), 'Decimal(38, 12)') AS d_pricing_public_on_demand_cost,
            match(v_line_item_usage_amount, '^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d{1,3})?$') AS dec_ok_line_item_usage_amount,
            accurateCastOrNull(round(toDecimal256OrNull(v_line_item_usage_amount, 24), 12), 'Decimal(38, 12)') AS d_line_item_usage_amount,
            -- resource_tags as JSON text whether the file holds a map or a JSON string; a null is no tags.
            if(tags_any = 'null' OR trimBoth(tags_text) = '', NULL, tags_text) AS tags_json
        FROM
        (
            SELECT
                line, raw,
                trimBoth(ifNull(line_item_usage_start_date, '')) AS v_line_item_usage_start_date,
                trimBoth(ifNull(line_item_usage_end_date, '')) AS v_line_item_usage_end_date,
                trimBoth(ifNull(bill_billing_period_start_date, '')) AS v_bill_billing_period_start_date,
                trimBoth(ifNull(bill_billing_period_end_date, '')) AS v_bill_billing_period_end_date,
                trimBoth(ifNull(line_item_unblended_cost, '')) AS v_line_item_unblended_cost,
                trimBoth(ifNull(reservation_effective_cost, '')) AS v_reservation_effective_cost,
                trimBoth(ifNull(savings_plan_savings_plan_effective_cost, '')) AS v_savings_plan_savings_plan_effective_cost,
                trimBoth(ifNull(pricing_public_on_demand_cost, '')) AS v_pricing_public_on_demand_cost,
                trimBoth(ifNull(line_item_usage_amount, '')) AS v_line_item_usage_amount,
                trimBoth(ifNull(line_item_currency_code, '')) AS v_line_item_currency_code,
                trimBoth(ifNull(line_item_line_item_type, '')) AS v_line_item_line_item_type,
                trimBoth(ifNull(pricing_unit, '')) AS v_pricing_unit,
                trimBoth(ifNull(bill_payer_account_id, '')) AS v_bill_payer_account_id,
                trimBoth(ifNull(line_item_usage_account_id, '')) AS v_line_item_usage_account_id,
                trimBoth(ifNull(line_item_resource_id, '')) AS v_line_item_resource_id,
                trimBoth(ifNull(product_instance_type, '')) AS v_product_instance_type,
                trimBoth(ifNull(line_item_product_code, '')) AS v_line_item_product_code,
                trimBoth(ifNull(product_region_code, '')) AS v_product_region_code,
                trimBoth(ifNull(product_sku, '')) AS v_product_sku,
                toJSONString(resource_tags) AS tags_any,
                if(startsWith(tags_any, '"'), JSONExtractString(tags_any), tags_any) AS tags_text,
                -- product as JSON text whether the file holds a map or a JSON string; null or not an object holds no attributes.
                toJSONString(product) AS product_any,
                if(startsWith(product_any, '"'), JSONExtractString(product_any), product_any) AS product_text
            FROM {raw:Identifier}
        )
    )
);
