/**
 * Billing export formats read from CSV files, each a zod schema from one CSV
 * record (keyed by header name) to a {@link BillingRow}. Adding a format is
 * adding an entry here.
 */
import { z } from 'zod';
import {
  billingDateTime,
  currencyCode,
  decimalText,
  optionalDecimalText,
  optionalText,
  tagsJson,
  type BillingRow,
} from './billing-row.js';

export interface BillingFileFormat {
  /** Value of --format. */
  name: string;
  /** billing_line_items.source for rows of this format. */
  source: string;
  /** Columns the header must have; a file without one of them cannot be read. */
  requiredColumns: readonly string[];
  record: z.ZodType<BillingRow, Record<string, string>>;
}

const checkPeriod = (row: BillingRow, ctx: z.RefinementCtx, endField: string): void => {
  if (row.charge_period_end <= row.charge_period_start) {
    ctx.addIssue({ code: 'custom', path: [endField], message: 'must be after the charge period start' });
  }
};

/** FOCUS 1.x (FinOps Open Cost and Usage Specification), any provider. */
const focus: BillingFileFormat = {
  name: 'focus',
  source: 'focus-file',
  requiredColumns: ['ChargePeriodStart', 'ChargePeriodEnd', 'BilledCost', 'EffectiveCost', 'BillingCurrency'],
  record: z
    .object({
      ChargePeriodStart: billingDateTime,
      ChargePeriodEnd: billingDateTime,
      BilledCost: decimalText,
      EffectiveCost: decimalText,
      ListCost: optionalDecimalText,
      BillingCurrency: currencyCode,
      ConsumedQuantity: optionalDecimalText,
      ConsumedUnit: optionalText,
      ProviderName: optionalText,
      BillingAccountId: optionalText,
      SubAccountId: optionalText,
      ResourceId: optionalText,
      ResourceType: optionalText,
      // Not a FOCUS column; some exports add it as an extension.
      x_InstanceType: optionalText,
      ServiceName: optionalText,
      ChargeCategory: optionalText,
      ChargeClass: optionalText,
      SkuId: optionalText,
      RegionId: optionalText,
      Tags: tagsJson,
    })
    .transform((r, ctx): BillingRow => {
      const row: BillingRow = {
        provider: r.ProviderName,
        billing_account_id: r.BillingAccountId,
        sub_account_id: r.SubAccountId,
        charge_period_start: r.ChargePeriodStart,
        charge_period_end: r.ChargePeriodEnd,
        billed_cost: r.BilledCost,
        effective_cost: r.EffectiveCost,
        list_cost: r.ListCost,
        billing_currency: r.BillingCurrency,
        consumed_quantity: r.ConsumedQuantity,
        consumed_unit: r.ConsumedUnit,
        resource_id: r.ResourceId,
        resource_type: r.ResourceType,
        instance_type: r.x_InstanceType,
        service_name: r.ServiceName,
        charge_category: r.ChargeCategory,
        charge_class: r.ChargeClass,
        sku_id: r.SkuId,
        region: r.RegionId,
        tags: r.Tags,
        is_estimated: false,
      };
      checkPeriod(row, ctx, 'ChargePeriodEnd');
      return row;
    }),
};

/**
 * Effective (amortized) cost of a CUR 2.0 line, following AWS's own FOCUS
 * mapping: usage covered by a reservation or a savings plan costs its
 * effective cost; the fees and negations that amortization replaces cost 0.
 */
function curEffectiveCost(r: { line_item_line_item_type: string; line_item_unblended_cost: string; reservation_effective_cost: string; savings_plan_savings_plan_effective_cost: string }): string {
  switch (r.line_item_line_item_type) {
    case 'DiscountedUsage':
      return r.reservation_effective_cost;
    case 'SavingsPlanCoveredUsage':
      return r.savings_plan_savings_plan_effective_cost;
    case 'SavingsPlanNegation':
    case 'SavingsPlanRecurringFee':
    case 'RIFee':
      return '0';
    default:
      return r.line_item_unblended_cost;
  }
}

/** AWS Cost and Usage Report 2.0 (Data Exports), CSV. */
const awsCur: BillingFileFormat = {
  name: 'aws-cur',
  source: 'aws-cur-file',
  requiredColumns: ['line_item_usage_start_date', 'line_item_usage_end_date', 'line_item_unblended_cost', 'line_item_currency_code'],
  record: z
    .object({
      line_item_usage_start_date: billingDateTime,
      line_item_usage_end_date: billingDateTime,
      line_item_unblended_cost: decimalText,
      line_item_currency_code: currencyCode,
      line_item_line_item_type: optionalText,
      reservation_effective_cost: optionalDecimalText,
      savings_plan_savings_plan_effective_cost: optionalDecimalText,
      pricing_public_on_demand_cost: optionalDecimalText,
      line_item_usage_amount: optionalDecimalText,
      pricing_unit: optionalText,
      bill_payer_account_id: optionalText,
      line_item_usage_account_id: optionalText,
      line_item_resource_id: optionalText,
      product_instance_type: optionalText,
      line_item_product_code: optionalText,
      product_region_code: optionalText,
      product_sku: optionalText,
      resource_tags: tagsJson,
    })
    .transform((r, ctx): BillingRow => {
      const row: BillingRow = {
        provider: 'AWS',
        billing_account_id: r.bill_payer_account_id,
        sub_account_id: r.line_item_usage_account_id,
        charge_period_start: r.line_item_usage_start_date,
        charge_period_end: r.line_item_usage_end_date,
        billed_cost: r.line_item_unblended_cost,
        effective_cost: curEffectiveCost(r),
        list_cost: r.pricing_public_on_demand_cost,
        billing_currency: r.line_item_currency_code,
        consumed_quantity: r.line_item_usage_amount,
        consumed_unit: r.pricing_unit,
        resource_id: r.line_item_resource_id,
        resource_type: '',
        instance_type: r.product_instance_type,
        service_name: r.line_item_product_code,
        charge_category: r.line_item_line_item_type === 'Tax' ? 'Tax' : r.line_item_line_item_type.endsWith('Fee') ? 'Purchase' : 'Usage',
        charge_class: '',
        sku_id: r.product_sku,
        region: r.product_region_code,
        tags: r.resource_tags,
        is_estimated: false,
      };
      checkPeriod(row, ctx, 'line_item_usage_end_date');
      return row;
    }),
};

export const BILLING_FILE_FORMATS: Readonly<Record<string, BillingFileFormat>> = { focus, 'aws-cur': awsCur };
