/**
 * A billing line as stored in billing_line_items: the FOCUS-aligned shape every
 * billing source (FOCUS file, AWS CUR file, Cost Explorer) is mapped into.
 * Money and quantities are plain decimal strings, never floats.
 */
import { z } from 'zod';
import { moneyOverflow, normalizeDecimal } from '../util/decimal.js';
import { formatDateTime, isRealDate } from '../util/time.js';

export interface BillingRow {
  provider: string;
  billing_account_id: string;
  sub_account_id: string;
  charge_period_start: string;
  charge_period_end: string;
  /** The billing period the line was billed in; a Correction's lies after its charge period. */
  billing_period_start: string;
  billing_period_end: string;
  /** True when the source gave no billing period and the charge period's month stands in for it. */
  billing_period_inferred: boolean;
  charge_frequency: string;
  billed_cost: string;
  effective_cost: string;
  list_cost: string;
  billing_currency: string;
  consumed_quantity: string;
  consumed_unit: string;
  resource_id: string;
  resource_type: string;
  instance_type: string;
  service_name: string;
  charge_category: string;
  charge_class: string;
  sku_id: string;
  region: string;
  tags: Record<string, string>;
  is_estimated: boolean;
}

export const BILLING_COLUMNS = [
  'billing_version', 'source', 'provider', 'billing_account_id', 'sub_account_id',
  'charge_period_start', 'charge_period_end', 'billed_cost', 'effective_cost', 'list_cost',
  'billing_currency', 'consumed_quantity', 'consumed_unit', 'resource_id', 'resource_type',
  'instance_type', 'service_name', 'charge_category', 'charge_class', 'sku_id', 'region', 'tags',
  'pool_id', 'is_estimated', 'source_file', 'source_line',
  'billing_period_start', 'billing_period_end', 'charge_frequency', 'scope_start',
] as const;

/**
 * What an import restates, with source and account: a billing period
 * (exports: a new export of a period replaces it) or a UTC day (Cost Explorer).
 */
export type ScopeKind = 'billing-period' | 'day';

/** Where a row came from and which version it belongs to. */
export interface BillingProvenance {
  billingVersion: string;
  source: string;
  sourceFile: string;
  poolTagKey: string;
  scope: ScopeKind;
}

/** Start of the restatement scope a row belongs to. */
export function scopeStartOf(row: BillingRow, scope: ScopeKind): string {
  return scope === 'day' ? `${row.charge_period_start.slice(0, 10)} 00:00:00` : row.billing_period_start;
}

/**
 * The pool a billing row belongs to: the value of the pool tag. Exports
 * prefix user tags differently (`user:key` in FOCUS from AWS, `user_key` in
 * CUR 2.0), so those spellings count too. Empty when untagged.
 */
export function poolIdFromTags(tags: Record<string, string>, key: string): string {
  return (tags[key] ?? tags[`user:${key}`] ?? tags[`user_${key}`] ?? '').trim();
}

export function serializeBillingRow(row: BillingRow, provenance: BillingProvenance, sourceLine: number): string {
  return JSON.stringify([
    provenance.billingVersion,
    provenance.source,
    row.provider,
    row.billing_account_id,
    row.sub_account_id,
    row.charge_period_start,
    row.charge_period_end,
    row.billed_cost,
    row.effective_cost,
    row.list_cost,
    row.billing_currency,
    row.consumed_quantity,
    row.consumed_unit,
    row.resource_id,
    row.resource_type,
    row.instance_type,
    row.service_name,
    row.charge_category,
    row.charge_class,
    row.sku_id,
    row.region,
    row.tags,
    poolIdFromTags(row.tags, provenance.poolTagKey),
    row.is_estimated,
    provenance.sourceFile,
    sourceLine,
    row.billing_period_start,
    row.billing_period_end,
    row.charge_frequency,
    scopeStartOf(row, provenance.scope),
  ]);
}

// ---- field parsers shared by the file formats --------------------------------

/** A decimal amount; an empty cell is refused. */
export const decimalText = z.string().transform((text, ctx) => {
  const value = text.trim() === '' ? undefined : normalizeDecimal(text);
  if (value === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a decimal number, got ${JSON.stringify(text.slice(0, 40))}` });
    return z.NEVER;
  }
  const overflow = moneyOverflow(value);
  if (overflow !== undefined) {
    ctx.addIssue({ code: 'custom', message: `${overflow}, got ${JSON.stringify(text.slice(0, 40))}` });
    return z.NEVER;
  }
  return value;
});

/** A decimal amount where an empty cell means zero (nullable in FOCUS). */
export const optionalDecimalText = z
  .string()
  .optional()
  .transform((t) => (t === undefined || t.trim() === '' ? '0' : t))
  .pipe(decimalText);

/** Optional text: absent and empty both become ''. */
export const optionalText = z.string().max(2048).optional().transform((t) => (t ?? '').trim());

const DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?(?:(Z)|([+-]\d{2})(?::?(\d{2}))?| ?(UTC))?$/i;

/**
 * A charge-period boundary. FOCUS fixes these in UTC, so a zone-less value is
 * read as UTC; a date alone is midnight. Exports write `2024-09-18 22:00:00`,
 * ISO-8601 with `Z` or an offset, or (BigQuery) a trailing ` UTC`. Stored as
 * whole seconds.
 */
export const billingDateTime = z.string().transform((text, ctx) => {
  const m = DATE_TIME.exec(text.trim());
  const zone = m?.[4] !== undefined ? `${m[4]}:${m[5] ?? '00'}` : 'Z';
  const ms = m && isRealDate(text.trim()) ? Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${zone}`) : NaN;
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: `must be an ISO-8601 date-time, got ${JSON.stringify(text.slice(0, 40))}` });
    return z.NEVER;
  }
  if (ms % 1000 !== 0) {
    ctx.addIssue({ code: 'custom', message: 'must be whole seconds' });
    return z.NEVER;
  }
  return formatDateTime(ms);
});

/** An optional billing-period boundary: absent or empty gives undefined. */
export const optionalBillingDateTime = z
  .string()
  .optional()
  .transform((t) => (t === undefined || t.trim() === '' ? undefined : t))
  .pipe(billingDateTime.optional());

export const currencyCode = z.string().trim().regex(/^[A-Z]{3}$/, 'must be a three-letter ISO 4217 code');

/** Tags as a JSON object of strings (FOCUS Tags, CUR resource_tags); empty means none. */
export const tagsJson = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined || text.trim() === '') return {};
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of tags' });
      return z.NEVER;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of tags' });
      return z.NEVER;
    }
    const tags: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== null && v !== undefined) tags[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
    return tags;
  });
