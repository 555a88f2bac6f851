/**
 * Billing export formats read from CSV files, each a zod schema from one CSV
 * record (keyed by header name) to a {@link BillingRow}. Adding a format is
 * adding an entry here.
 */
import { z } from 'zod';
import type { BillingFormatName } from './format-names.js';
import {
  billingDateTime,
  currencyCode,
  decimalText,
  optionalBillingDateTime,
  optionalDecimalText,
  optionalText,
  tagsJson,
  type BillingRow,
} from './billing-row.js';
import { HOUR_MS } from '../util/time.js';

export interface BillingFileFormat {
  /** Value of --format. */
  name: string;
  /** billing_line_items.source for rows of this format. */
  source: string;
  /** Columns the header must have; a file without one of them cannot be read. */
  requiredColumns: readonly string[];
  record: z.ZodType<BillingRow>;
}

const msOf = (dateTime: string): number => Date.parse(`${dateTime.replace(' ', 'T')}Z`);

/**
 * A charge period is spread over the hours it covers, so it must start and end
 * on whole hours, end after it starts.
 */
const checkPeriod = (row: BillingRow, ctx: z.RefinementCtx, startField: string, endField: string): void => {
  if (msOf(row.charge_period_start) % HOUR_MS !== 0) {
    ctx.addIssue({ code: 'custom', path: [startField], message: `must be on a whole hour (charges are spread over whole hours), got ${row.charge_period_start}` });
  }
  if (msOf(row.charge_period_end) % HOUR_MS !== 0) {
    ctx.addIssue({ code: 'custom', path: [endField], message: `must be on a whole hour (charges are spread over whole hours), got ${row.charge_period_end}` });
  }
  if (row.charge_period_end <= row.charge_period_start) {
    ctx.addIssue({ code: 'custom', path: [endField], message: 'must be after the charge period start' });
  }
};

/** The first instant of the month of a 'YYYY-MM-DD hh:mm:ss' time, and of the next month. */
function monthOf(dateTime: string): { start: string; end: string } {
  const y = Number(dateTime.slice(0, 4));
  const m = Number(dateTime.slice(5, 7));
  const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
  return { start: `${dateTime.slice(0, 7)}-01 00:00:00`, end: `${next}-01 00:00:00` };
}

/**
 * The billing period of a line: as the export gives it, else (older export
 * shapes without the columns) the month of the charge period, flagged as inferred.
 */
function billingPeriod(
  given: { start: string | undefined; end: string | undefined; startField: string; endField: string },
  chargeStart: string,
  ctx: z.RefinementCtx,
): Pick<BillingRow, 'billing_period_start' | 'billing_period_end' | 'billing_period_inferred'> {
  if (given.start === undefined && given.end === undefined) {
    const month = monthOf(chargeStart);
    return { billing_period_start: month.start, billing_period_end: month.end, billing_period_inferred: true };
  }
  if (given.start === undefined) ctx.addIssue({ code: 'custom', path: [given.startField], message: `is required when ${given.endField} is given` });
  if (given.end === undefined) ctx.addIssue({ code: 'custom', path: [given.endField], message: `is required when ${given.startField} is given` });
  if (given.start !== undefined && given.end !== undefined && given.end <= given.start) {
    ctx.addIssue({ code: 'custom', path: [given.endField], message: 'must be after the billing period start' });
  }
  return { billing_period_start: given.start ?? '', billing_period_end: given.end ?? '', billing_period_inferred: false };
}

/** FOCUS writes a null as an empty cell or the literal NULL. */
export function isFocusNull(cell: string): boolean {
  const t = cell.trim();
  return t === '' || t.toUpperCase() === 'NULL';
}

/** A FOCUS record with its null cells as null; an absent column stays absent (undefined). */
function focusNulls(record: unknown): unknown {
  if (record === null || typeof record !== 'object') return record;
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(record as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = isFocusNull(v) ? null : v;
  }
  return out;
}

const NULL_MESSAGE = 'is null (empty or NULL), but a FOCUS line must have it';
/** A column FOCUS makes mandatory and non-null, that every export fills and this product needs. */
const notNull = <T>(schema: z.ZodType<T, string>) =>
  z.string({ error: (issue) => (issue.input === null ? NULL_MESSAGE : 'is missing') }).pipe(schema);
/** A non-null column that older exports may not have at all: absent is fine, null is not. */
const notNullIfPresent = <T>(schema: z.ZodType<T, string>) =>
  z.string({ error: NULL_MESSAGE }).optional().pipe(schema.optional());
/** A nullable column: null or absent reads as ''. */
const nullableText = z.string().max(2048).nullish().transform((t) => (t ?? '').trim());
/** A nullable amount or quantity: null or absent reads as 0. */
const nullableDecimal = z.string().nullish().transform((t) => t ?? '0').pipe(decimalText);
/** Nullable Tags: null is an untagged line. */
const nullableTags = z.string().nullish().transform((t) => t ?? undefined).pipe(tagsJson);

/**
 * FOCUS 1.0 to 1.3 (FinOps Open Cost and Usage Specification), any provider.
 * Each column is read by its definition: mandatory columns must not be null,
 * nullable ones may be empty or NULL. Other columns (1.1+ additions, `x_`
 * extensions) are ignored, in any order.
 */
const focus: BillingFileFormat = {
  name: 'focus',
  source: 'focus-file',
  requiredColumns: ['ChargePeriodStart', 'ChargePeriodEnd', 'BilledCost', 'EffectiveCost', 'BillingCurrency'],
  record: z.preprocess(
    focusNulls,
    z.object({
      ChargePeriodStart: notNull(billingDateTime),
      ChargePeriodEnd: notNull(billingDateTime),
      BillingPeriodStart: notNullIfPresent(billingDateTime),
      BillingPeriodEnd: notNullIfPresent(billingDateTime),
      ChargeFrequency: nullableText,
      BilledCost: notNull(decimalText),
      EffectiveCost: notNull(decimalText),
      // Mandatory in FOCUS, but not needed here: a null list cost is read as 0 rather than refusing the line.
      ListCost: nullableDecimal,
      BillingCurrency: notNull(currencyCode),
      ConsumedQuantity: nullableDecimal,
      ConsumedUnit: nullableText,
      ProviderName: nullableText,
      BillingAccountId: nullableText,
      SubAccountId: nullableText,
      ResourceId: nullableText,
      ResourceType: nullableText,
      // Not a FOCUS column; some exports add it as an extension.
      x_InstanceType: nullableText,
      ServiceName: nullableText,
      ChargeCategory: notNullIfPresent(z.string().trim()),
      ChargeClass: nullableText,
      SkuId: nullableText,
      RegionId: nullableText,
      Tags: nullableTags,
    }),
  )
    .transform((r, ctx): BillingRow => {
      const row: BillingRow = {
        provider: r.ProviderName,
        billing_account_id: r.BillingAccountId,
        sub_account_id: r.SubAccountId,
        charge_period_start: r.ChargePeriodStart,
        charge_period_end: r.ChargePeriodEnd,
        ...billingPeriod({ start: r.BillingPeriodStart, end: r.BillingPeriodEnd, startField: 'BillingPeriodStart', endField: 'BillingPeriodEnd' }, r.ChargePeriodStart, ctx),
        charge_frequency: r.ChargeFrequency,
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
        charge_category: r.ChargeCategory ?? '',
        charge_class: r.ChargeClass,
        sku_id: r.SkuId,
        region: r.RegionId,
        tags: r.Tags,
        is_estimated: false,
      };
      checkPeriod(row, ctx, 'ChargePeriodStart', 'ChargePeriodEnd');
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

/**
 * FOCUS ChargeCategory of each CUR line item type, as the FOCUS work group's
 * AWS mappings give it: usage, the discounts on it and the savings-plan
 * negation that offsets covered usage are Usage; commitment and other fees
 * are Purchase. A provider credit is Credit (FOCUS 1.0 added the value for
 * exactly these); a refund does not say what it refunds, so it is Adjustment.
 */
const CUR_CHARGE_CATEGORY: Readonly<Record<string, string>> = {
  Usage: 'Usage',
  DiscountedUsage: 'Usage',
  SavingsPlanCoveredUsage: 'Usage',
  SavingsPlanNegation: 'Usage',
  Discount: 'Usage',
  BundledDiscount: 'Usage',
  EdpDiscount: 'Usage',
  PrivateRateDiscount: 'Usage',
  Fee: 'Purchase',
  RIFee: 'Purchase',
  SavingsPlanUpfrontFee: 'Purchase',
  SavingsPlanRecurringFee: 'Purchase',
  Tax: 'Tax',
  Credit: 'Credit',
  Refund: 'Adjustment',
};

/** ChargeCategory of a CUR line item type; a type not listed is Purchase when it is a fee, else Usage. */
function curChargeCategory(type: string): string {
  return CUR_CHARGE_CATEGORY[type] ?? (type.endsWith('Fee') ? 'Purchase' : 'Usage');
}

/**
 * CUR 2.0's `product` column (a map; JSON text in CSV): its string
 * attributes. It only stands in for empty flat product columns, so text that
 * is not a JSON object holds no attributes rather than failing the line.
 */
const productAttributes = z
  .string()
  .optional()
  .transform((text): Record<string, string> => {
    let value: unknown;
    try {
      value = JSON.parse(text ?? '');
    } catch {
      return {};
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') attributes[k] = v.trim();
    return attributes;
  });

/** FOCUS ChargeFrequency of a CUR line type: reservation and savings-plan fees recur, other fees are one-off. */
function curChargeFrequency(type: string): string {
  if (type === 'RIFee' || type === 'SavingsPlanRecurringFee') return 'Recurring';
  if (type === 'Fee' || type === 'SavingsPlanUpfrontFee') return 'One-Time';
  return 'Usage-Based';
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
      bill_billing_period_start_date: optionalBillingDateTime,
      bill_billing_period_end_date: optionalBillingDateTime,
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
      product: productAttributes,
    })
    .transform((r, ctx): BillingRow => {
      const period = billingPeriod(
        { start: r.bill_billing_period_start_date, end: r.bill_billing_period_end_date, startField: 'bill_billing_period_start_date', endField: 'bill_billing_period_end_date' },
        r.line_item_usage_start_date,
        ctx,
      );
      const row: BillingRow = {
        provider: 'AWS',
        billing_account_id: r.bill_payer_account_id,
        sub_account_id: r.line_item_usage_account_id,
        charge_period_start: r.line_item_usage_start_date,
        charge_period_end: r.line_item_usage_end_date,
        ...period,
        charge_frequency: curChargeFrequency(r.line_item_line_item_type),
        billed_cost: r.line_item_unblended_cost,
        effective_cost: curEffectiveCost(r),
        list_cost: r.pricing_public_on_demand_cost,
        billing_currency: r.line_item_currency_code,
        consumed_quantity: r.line_item_usage_amount,
        consumed_unit: r.pricing_unit,
        resource_id: r.line_item_resource_id,
        resource_type: '',
        // An export that leaves a flat product column out or empty may still carry the attribute in the product map.
        instance_type: r.product_instance_type || (r.product['instance_type'] ?? ''),
        service_name: r.line_item_product_code,
        charge_category: curChargeCategory(r.line_item_line_item_type),
        // FOCUS: a line billed in a later period than its charge corrects a period already invoiced.
        charge_class: r.line_item_usage_start_date < period.billing_period_start ? 'Correction' : '',
        sku_id: r.product_sku,
        region: r.product_region_code || r.product['region_code'] || (r.product['region'] ?? ''),
        tags: r.resource_tags,
        is_estimated: false,
      };
      checkPeriod(row, ctx, 'line_item_usage_start_date', 'line_item_usage_end_date');
      return row;
    }),
};

export const BILLING_FILE_FORMATS: Readonly<Record<string, BillingFileFormat>> = { focus, 'aws-cur': awsCur } satisfies Record<BillingFormatName, BillingFileFormat>;
