-- Stage a FOCUS Parquet file for import from its rows as loaded
-- (load-parquet-file.sql or load-parquet-body.sql into {raw:Identifier}): the
-- engine maps them (no JavaScript row loop) and each row gets the same meaning
-- and the same checks as a CSV line (src/billing/file-formats.ts): null =
-- empty or the literal NULL, mandatory columns must not be null, decimals and
-- date-times parsed exactly, charge periods on whole hours. `problems` lists
-- (column, reason) of a bad row; only rows without problems are written.
-- `line` is the row's number in the file.
--
-- The raw table holds every column read, each as Nullable(String) (Tags:
-- Map(String, Nullable(String)) when the file holds a map), so an absent
-- column reads as null and typed Parquet values (timestamps, decimals,
-- doubles) arrive as their text.
CREATE TABLE {staging:Identifier}
ENGINE = MergeTree ORDER BY line
AS SELECT
    line, raw,
    ifNull(toDateTime(p_ChargePeriodStart, 'UTC'), toDateTime(0, 'UTC')) AS charge_period_start_v,
    ifNull(toDateTime(p_ChargePeriodEnd, 'UTC'), toDateTime(0, 'UTC')) AS charge_period_end_v,
    billing_period_start, billing_period_end, inferred,
    ifNull(n_ChargeFrequency, '') AS charge_frequency,
    ifNull(d_BilledCost, toDecimal128(0, 12)) AS billed_cost,
    ifNull(d_EffectiveCost, toDecimal128(0, 12)) AS effective_cost,
    ifNull(d_ListCost, toDecimal128(0, 12)) AS list_cost,
    ifNull(n_BillingCurrency, '') AS billing_currency,
    ifNull(d_ConsumedQuantity, toDecimal128(0, 12)) AS consumed_quantity,
    ifNull(n_ConsumedUnit, '') AS consumed_unit,
    ifNull(n_ProviderName, '') AS provider,
    ifNull(n_BillingAccountId, '') AS billing_account_id,
    ifNull(n_SubAccountId, '') AS sub_account_id,
    ifNull(n_ResourceId, '') AS resource_id,
    ifNull(n_ResourceType, '') AS resource_type,
    ifNull(n_x_InstanceType, '') AS instance_type,
    ifNull(n_ServiceName, '') AS service_name,
    ifNull(n_ChargeCategory, '') AS charge_category,
    ifNull(n_ChargeClass, '') AS charge_class,
    ifNull(n_SkuId, '') AS sku_id,
    ifNull(n_RegionId, '') AS region,
    tags,
    trimBoth(multiIf(
        mapContains(tags, {pool_tag_key:String}), tags[{pool_tag_key:String}],
        mapContains(tags, concat('user:', {pool_tag_key:String})), tags[concat('user:', {pool_tag_key:String})],
        tags[concat('user_', {pool_tag_key:String})])) AS pool_id,
    -- A bad column hides the period checks, as in the CSV path (billing period first, as there).
    if(notEmpty(column_problems), column_problems, arrayFilter(p -> p.2 != '', [
        ('BillingPeriodEnd', if(NOT inferred AND billing_period_end <= billing_period_start, 'must be after the billing period start', '')),
        ('ChargePeriodStart', if(charge_period_start IS NOT NULL AND toUnixTimestamp(charge_period_start) % 3600 != 0, concat('must be on a whole hour (charges are spread over whole hours), got ', toString(charge_period_start)), '')),
        ('ChargePeriodEnd', if(charge_period_end IS NOT NULL AND toUnixTimestamp(charge_period_end) % 3600 != 0, concat('must be on a whole hour (charges are spread over whole hours), got ', toString(charge_period_end)), '')),
        ('ChargePeriodEnd', if(charge_period_end <= charge_period_start, 'must be after the charge period start', ''))])) AS problems
FROM
(
    SELECT
        *,
        arrayFilter(p -> p.2 != '', [
            ('ChargePeriodStart', multiIf(n_ChargePeriodStart IS NULL, 'is null (empty or NULL), but a FOCUS line must have it', n_ChargePeriodStart IS NOT NULL AND NOT dt_ok_ChargePeriodStart, concat('must be an ISO-8601 date-time', concat(', got ', toJSONString(substring(n_ChargePeriodStart, 1, 40)))), n_ChargePeriodStart IS NOT NULL AND toUnixTimestamp64Milli(p_ChargePeriodStart) % 1000 != 0, 'must be whole seconds', '')),
            ('ChargePeriodEnd', multiIf(n_ChargePeriodEnd IS NULL, 'is null (empty or NULL), but a FOCUS line must have it', n_ChargePeriodEnd IS NOT NULL AND NOT dt_ok_ChargePeriodEnd, concat('must be an ISO-8601 date-time', concat(', got ', toJSONString(substring(n_ChargePeriodEnd, 1, 40)))), n_ChargePeriodEnd IS NOT NULL AND toUnixTimestamp64Milli(p_ChargePeriodEnd) % 1000 != 0, 'must be whole seconds', '')),
            ('BillingPeriodStart', multiIf({has_billing_period:UInt8} AND n_BillingPeriodStart IS NULL, 'is null (empty or NULL), but a FOCUS line must have it', n_BillingPeriodStart IS NOT NULL AND NOT dt_ok_BillingPeriodStart, concat('must be an ISO-8601 date-time', concat(', got ', toJSONString(substring(n_BillingPeriodStart, 1, 40)))), n_BillingPeriodStart IS NOT NULL AND toUnixTimestamp64Milli(p_BillingPeriodStart) % 1000 != 0, 'must be whole seconds', '')),
            ('BillingPeriodEnd', multiIf({has_billing_period:UInt8} AND n_BillingPeriodEnd IS NULL, 'is null (empty or NULL), but a FOCUS line must have it', n_BillingPeriodEnd IS NOT NULL AND NOT dt_ok_BillingPeriodEnd, concat('must be an ISO-8601 date-time', concat(', got ', toJSONString(substring(n_BillingPeriodEnd, 1, 40)))), n_BillingPeriodEnd IS NOT NULL AND toUnixTimestamp64Milli(p_BillingPeriodEnd) % 1000 != 0, 'must be whole seconds', '')),
            ('BilledCost', multiIf(n_BilledCost IS NULL, 'is null (empty or NULL), but a FOCUS line must have it', n_BilledCost IS NOT NULL AND NOT dec_ok_BilledCost, concat('must be a decimal number', concat(', got ', toJSONString(substring(n_BilledCost, 1, 40)))), n_BilledCost IS NOT NULL AND d_BilledCost IS NULL, concat('does not fit Decimal(38, 12): more than 26 digits before the point', concat(', got ', toJSONString(substring(n_BilledCost, 1, 40)))), '')),
            ('EffectiveCost', multiIf(n_EffectiveCost IS NULL, 'is null (empty or NULL), but a FOCUS line must have it', n_EffectiveCost IS NOT NULL AND NOT dec_ok_EffectiveCost, concat('must be a decimal number', concat(', got ', toJSONString(substring(n_EffectiveCost, 1, 40)))), n_EffectiveCost IS NOT NULL AND d_EffectiveCost IS NULL, concat('does not fit Decimal(38, 12): more than 26 digits before the point', concat(', got ', toJSONString(substring(n_EffectiveCost, 1, 40)))), '')),
            ('ListCost', multiIf(n_ListCost IS NOT NULL AND NOT dec_ok_ListCost, concat('must be a decimal number', concat(', got ', toJSONString(substring(n_ListCost, 1, 40)))), n_ListCost IS NOT NULL AND d_ListCost IS NULL, concat('does not fit Decimal(38, 12): more than 26 digits before the point', concat(', got ', toJSONString(substring(n_ListCost, 1, 40)))), '')),
            ('BillingCurrency', multiIf(n_BillingCurrency IS NULL, 'is null (empty or NULL), but a FOCUS line must have it', NOT match(n_BillingCurrency, '^[A-Z]{3}$'), 'must be a three-letter ISO 4217 code', '')),
            ('ConsumedQuantity', multiIf(n_ConsumedQuantity IS NOT NULL AND NOT dec_ok_ConsumedQuantity, concat('must be a decimal number', concat(', got ', toJSONString(substring(n_ConsumedQuantity, 1, 40)))), n_ConsumedQuantity IS NOT NULL AND d_ConsumedQuantity IS NULL, concat('does not fit Decimal(38, 12): more than 26 digits before the point', concat(', got ', toJSONString(substring(n_ConsumedQuantity, 1, 40)))), '')),
            ('ChargeCategory', if({has_charge_category:UInt8} AND n_ChargeCategory IS NULL, 'is null (empty or NULL), but a FOCUS line must have it', '')),
            ('Tags', if(tags_json IS NOT NULL AND NOT (isValidJSON(tags_json) AND JSONType(tags_json) = 'Object'), 'must be a JSON object of tags', ''))]) AS column_problems,
        toDateTime(p_ChargePeriodStart, 'UTC') AS charge_period_start,
        toDateTime(p_ChargePeriodEnd, 'UTC') AS charge_period_end,
        NOT {has_billing_period:UInt8} AS inferred,
        if(inferred, toDateTime(toStartOfMonth(ifNull(charge_period_start, toDateTime(0, 'UTC'))), 'UTC'), ifNull(toDateTime(p_BillingPeriodStart, 'UTC'), toDateTime(0, 'UTC'))) AS billing_period_start,
        if(inferred, toDateTime(toStartOfMonth(ifNull(charge_period_start, toDateTime(0, 'UTC'))), 'UTC') + toIntervalMonth(1), ifNull(toDateTime(p_BillingPeriodEnd, 'UTC'), toDateTime(0, 'UTC'))) AS billing_period_end,
        CAST(arrayMap(kv -> (kv.1, if(JSONType(kv.2) = 'String', JSONExtractString(kv.2), kv.2)),
                      arrayFilter(kv -> JSONType(kv.2) != 'Null', JSONExtractKeysAndValuesRaw(ifNull(tags_json, '{}')))),
             'Map(String, String)') AS tags
    FROM
    (
        SELECT
            *,
            match(n_ChargePeriodStart, '(?i)^(\\d{4}-\\d{2}-\\d{2})(?:[T ](\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?))?(?:Z|[+-]\\d{2}(?::?\\d{2})?| ?UTC)?$') AND toString(toDateOrNull(substring(n_ChargePeriodStart, 1, 10))) = substring(n_ChargePeriodStart, 1, 10) AND parseDateTime64BestEffortOrNull(n_ChargePeriodStart, 3, 'UTC') IS NOT NULL AS dt_ok_ChargePeriodStart,
        if(dt_ok_ChargePeriodStart, parseDateTime64BestEffortOrNull(n_ChargePeriodStart, 3, 'UTC'), NULL) AS p_ChargePeriodStart,
        match(n_ChargePeriodEnd, '(?i)^(\\d{4}-\\d{2}-\\d{2})(?:[T ](\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?))?(?:Z|[+-]\\d{2}(?::?\\d{2})?| ?UTC)?$') AND toString(toDateOrNull(substring(n_ChargePeriodEnd, 1, 10))) = substring(n_ChargePeriodEnd, 1, 10) AND parseDateTime64BestEffortOrNull(n_ChargePeriodEnd, 3, 'UTC') IS NOT NULL AS dt_ok_ChargePeriodEnd,
        if(dt_ok_ChargePeriodEnd, parseDateTime64BestEffortOrNull(n_ChargePeriodEnd, 3, 'UTC'), NULL) AS p_ChargePeriodEnd,
        match(n_BillingPeriodStart, '(?i)^(\\d{4}-\\d{2}-\\d{2})(?:[T ](\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?))?(?:Z|[+-]\\d{2}(?::?\\d{2})?| ?UTC)?$') AND toString(toDateOrNull(substring(n_BillingPeriodStart, 1, 10))) = substring(n_BillingPeriodStart, 1, 10) AND parseDateTime64BestEffortOrNull(n_BillingPeriodStart, 3, 'UTC') IS NOT NULL AS dt_ok_BillingPeriodStart,
        if(dt_ok_BillingPeriodStart, parseDateTime64BestEffortOrNull(n_BillingPeriodStart, 3, 'UTC'), NULL) AS p_BillingPeriodStart,
        match(n_BillingPeriodEnd, '(?i)^(\\d{4}-\\d{2}-\\d{2})(?:[T ](\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?))?(?:Z|[+-]\\d{2}(?::?\\d{2})?| ?UTC)?$') AND toString(toDateOrNull(substring(n_BillingPeriodEnd, 1, 10))) = substring(n_BillingPeriodEnd, 1, 10) AND parseDateTime64BestEffortOrNull(n_BillingPeriodEnd, 3, 'UTC') IS NOT NULL AS dt_ok_BillingPeriodEnd,
        if(dt_ok_BillingPeriodEnd, parseDateTime64BestEffortOrNull(n_BillingPeriodEnd, 3, 'UTC'), NULL) AS p_BillingPeriodEnd,
        match(n_BilledCost, '^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d{1,3})?$') AS dec_ok_BilledCost,
        accurateCastOrNull(round(toDecimal256OrNull(n_BilledCost, 24), 12), 'Decimal(38, 12)') AS d_BilledCost,
        match(n_EffectiveCost, '^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d{1,3})?$') AS dec_ok_EffectiveCost,
        accurateCastOrNull(round(toDecimal256OrNull(n_EffectiveCost, 24), 12), 'Decimal(38, 12)') AS d_EffectiveCost,
        match(n_ListCost, '^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d{1,3})?$') AS dec_ok_ListCost,
        accurateCastOrNull(round(toDecimal256OrNull(n_ListCost, 24), 12), 'Decimal(38, 12)') AS d_ListCost,
        match(n_ConsumedQuantity, '^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d{1,3})?$') AS dec_ok_ConsumedQuantity,
        accurateCastOrNull(round(toDecimal256OrNull(n_ConsumedQuantity, 24), 12), 'Decimal(38, 12)') AS d_ConsumedQuantity
        FROM
        (
            SELECT
                line, raw,
                if(ChargePeriodStart IS NULL OR trimBoth(ChargePeriodStart) = '' OR upper(trimBoth(ChargePeriodStart)) = 'NULL', NULL, trimBoth(ChargePeriodStart)) AS n_ChargePeriodStart,
        if(ChargePeriodEnd IS NULL OR trimBoth(ChargePeriodEnd) = '' OR upper(trimBoth(ChargePeriodEnd)) = 'NULL', NULL, trimBoth(ChargePeriodEnd)) AS n_ChargePeriodEnd,
        if(BillingPeriodStart IS NULL OR trimBoth(BillingPeriodStart) = '' OR upper(trimBoth(BillingPeriodStart)) = 'NULL', NULL, trimBoth(BillingPeriodStart)) AS n_BillingPeriodStart,
        if(BillingPeriodEnd IS NULL OR trimBoth(BillingPeriodEnd) = '' OR upper(trimBoth(BillingPeriodEnd)) = 'NULL', NULL, trimBoth(BillingPeriodEnd)) AS n_BillingPeriodEnd,
        if(ChargeFrequency IS NULL OR trimBoth(ChargeFrequency) = '' OR upper(trimBoth(ChargeFrequency)) = 'NULL', NULL, trimBoth(ChargeFrequency)) AS n_ChargeFrequency,
        if(BilledCost IS NULL OR trimBoth(BilledCost) = '' OR upper(trimBoth(BilledCost)) = 'NULL', NULL, trimBoth(BilledCost)) AS n_BilledCost,
        if(EffectiveCost IS NULL OR trimBoth(EffectiveCost) = '' OR upper(trimBoth(EffectiveCost)) = 'NULL', NULL, trimBoth(EffectiveCost)) AS n_EffectiveCost,
        if(ListCost IS NULL OR trimBoth(ListCost) = '' OR upper(trimBoth(ListCost)) = 'NULL', NULL, trimBoth(ListCost)) AS n_ListCost,
        if(BillingCurrency IS NULL OR trimBoth(BillingCurrency) = '' OR upper(trimBoth(BillingCurrency)) = 'NULL', NULL, trimBoth(BillingCurrency)) AS n_BillingCurrency,
        if(ConsumedQuantity IS NULL OR trimBoth(ConsumedQuantity) = '' OR upper(trimBoth(ConsumedQuantity)) = 'NULL', NULL, trimBoth(ConsumedQuantity)) AS n_ConsumedQuantity,
        if(ConsumedUnit IS NULL OR trimBoth(ConsumedUnit) = '' OR upper(trimBoth(ConsumedUnit)) = 'NULL', NULL, trimBoth(ConsumedUnit)) AS n_ConsumedUnit,
        if(ProviderName IS NULL OR trimBoth(ProviderName) = '' OR upper(trimBoth(ProviderName)) = 'NULL', NULL, trimBoth(ProviderName)) AS n_ProviderName,
        if(BillingAccountId IS NULL OR trimBoth(BillingAccountId) = '' OR upper(trimBoth(BillingAccountId)) = 'NULL', NULL, trimBoth(BillingAccountId)) AS n_BillingAccountId,
        if(SubAccountId IS NULL OR trimBoth(SubAccountId) = '' OR upper(trimBoth(SubAccountId)) = 'NULL', NULL, trimBoth(SubAccountId)) AS n_SubAccountId,
        if(ResourceId IS NULL OR trimBoth(ResourceId) = '' OR upper(trimBoth(ResourceId)) = 'NULL', NULL, trimBoth(ResourceId)) AS n_ResourceId,
        if(ResourceType IS NULL OR trimBoth(ResourceType) = '' OR upper(trimBoth(ResourceType)) = 'NULL', NULL, trimBoth(ResourceType)) AS n_ResourceType,
        if(x_InstanceType IS NULL OR trimBoth(x_InstanceType) = '' OR upper(trimBoth(x_InstanceType)) = 'NULL', NULL, trimBoth(x_InstanceType)) AS n_x_InstanceType,
        if(ServiceName IS NULL OR trimBoth(ServiceName) = '' OR upper(trimBoth(ServiceName)) = 'NULL', NULL, trimBoth(ServiceName)) AS n_ServiceName,
        if(ChargeCategory IS NULL OR trimBoth(ChargeCategory) = '' OR upper(trimBoth(ChargeCategory)) = 'NULL', NULL, trimBoth(ChargeCategory)) AS n_ChargeCategory,
        if(ChargeClass IS NULL OR trimBoth(ChargeClass) = '' OR upper(trimBoth(ChargeClass)) = 'NULL', NULL, trimBoth(ChargeClass)) AS n_ChargeClass,
        if(SkuId IS NULL OR trimBoth(SkuId) = '' OR upper(trimBoth(SkuId)) = 'NULL', NULL, trimBoth(SkuId)) AS n_SkuId,
        if(RegionId IS NULL OR trimBoth(RegionId) = '' OR upper(trimBoth(RegionId)) = 'NULL', NULL, trimBoth(RegionId)) AS n_RegionId,
                -- Tags as JSON text whether the file holds a JSON string or a map.
                toJSONString(Tags) AS tags_any,
                if(startsWith(tags_any, '"'), JSONExtractString(tags_any), tags_any) AS tags_text,
                if(tags_text = 'null' OR trimBoth(tags_text) = '' OR upper(trimBoth(tags_text)) = 'NULL', NULL, tags_text) AS tags_json
            FROM {raw:Identifier}
        )
    )
);
