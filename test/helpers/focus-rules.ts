/**
 * FOCUS 1.3 column rules, as a table, and a checker for FOCUS rows read from
 * a CSV. Each rule cites the section of the FOCUS specification it comes
 * from (FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec, Cost and Usage dataset:
 * specification/datasets/cost_and_usage/columns/<id>.md; attributes:
 * specification/attributes/<name>.md). A CSV has no null: an empty cell is
 * read as null (FOCUS Null Handling: a nullable column holds NULL, never an
 * empty string, for an absent value).
 */

export type FocusLevel = 'mandatory' | 'conditional' | 'recommended';
export type FocusType = 'decimal' | 'datetime' | 'string' | 'currency' | 'json-object' | 'key-value';

export interface FocusColumnRule {
  id: string;
  /** Feature level ("Content constraints" of the column). */
  level: FocusLevel;
  /** "Allows nulls". */
  nullable: boolean;
  /** "Data type" with its "Value format". */
  type: FocusType;
  /** "Allowed values", when the value format is a list. */
  allowed?: readonly string[];
}

export const FOCUS_RULES: readonly FocusColumnRule[] = [
  // § Columns › Billing Period Start / End: Mandatory, not null, Date/Time (Date/Time Format).
  { id: 'BillingPeriodStart', level: 'mandatory', nullable: false, type: 'datetime' },
  { id: 'BillingPeriodEnd', level: 'mandatory', nullable: false, type: 'datetime' },
  // § Columns › Charge Period Start / End: Mandatory, not null, Date/Time.
  { id: 'ChargePeriodStart', level: 'mandatory', nullable: false, type: 'datetime' },
  { id: 'ChargePeriodEnd', level: 'mandatory', nullable: false, type: 'datetime' },
  // § Columns › Billing Currency: Mandatory, not null, String in Currency Format (ISO 4217 national currency).
  { id: 'BillingCurrency', level: 'mandatory', nullable: false, type: 'currency' },
  // § Columns › Billed Cost, Effective Cost, List Cost, Contracted Cost: Mandatory, not null, Decimal (Numeric Format).
  // Contracted Cost: "MUST equal ListCost" without negotiated prices; "MUST match the BilledCost" on a Credit (checked per row below).
  { id: 'BilledCost', level: 'mandatory', nullable: false, type: 'decimal' },
  { id: 'EffectiveCost', level: 'mandatory', nullable: false, type: 'decimal' },
  { id: 'ListCost', level: 'mandatory', nullable: false, type: 'decimal' },
  { id: 'ContractedCost', level: 'mandatory', nullable: false, type: 'decimal' },
  // § Columns › Charge Category: Mandatory, not null, one of the allowed values.
  { id: 'ChargeCategory', level: 'mandatory', nullable: false, type: 'string', allowed: ['Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment'] },
  // § Columns › Charge Class: Mandatory, null unless the charge corrects a closed billing period, then "Correction".
  { id: 'ChargeClass', level: 'mandatory', nullable: true, type: 'string', allowed: ['Correction'] },
  // § Columns › Charge Description: Mandatory, nullable (SHOULD NOT be null), String.
  { id: 'ChargeDescription', level: 'mandatory', nullable: true, type: 'string' },
  // § Columns › Charge Frequency: Recommended, not null, one of the allowed values.
  { id: 'ChargeFrequency', level: 'recommended', nullable: false, type: 'string', allowed: ['One-Time', 'Recurring', 'Usage-Based'] },
  // § Columns › Service Name: Mandatory, not null, String.
  { id: 'ServiceName', level: 'mandatory', nullable: false, type: 'string' },
  // § Columns › Service Category: Mandatory, not null, one of the allowed values ("Other" when no suitable category is available, § Service Name).
  {
    id: 'ServiceCategory', level: 'mandatory', nullable: false, type: 'string',
    allowed: ['AI and Machine Learning', 'Analytics', 'Business Applications', 'Compute', 'Databases', 'Developer Tools', 'Multicloud', 'Identity', 'Integration',
      'Internet of Things', 'Management and Governance', 'Media', 'Migration', 'Mobile', 'Networking', 'Security', 'Storage', 'Web', 'Other'],
  },
  // § Columns › Billing Account ID: Mandatory, not null, String (a unique identifier within an invoice issuer).
  { id: 'BillingAccountId', level: 'mandatory', nullable: false, type: 'string' },
  // § Columns › Invoice Issuer Name: Mandatory, not null, String.
  { id: 'InvoiceIssuerName', level: 'mandatory', nullable: false, type: 'string' },
  // § Columns › Service Provider Name (introduced in 1.3, replaces Provider Name): Mandatory, not null, String.
  { id: 'ServiceProviderName', level: 'mandatory', nullable: false, type: 'string' },
  // § Columns › Host Provider Name (introduced in 1.3): Mandatory, String, allows nulls (MAY be null where no infrastructure is involved or
  // it cannot be determined, e.g. Tax; MUST NOT otherwise), and equal to ServiceProviderName unless a separate host is selected or exposed.
  { id: 'HostProviderName', level: 'mandatory', nullable: true, type: 'string' },
  // § Columns › Pricing Quantity / Pricing Unit: Mandatory, nullable; row rules below (null on Tax, not null on Usage and Purchase
  // that are not corrections, null when SkuPriceId is; PricingUnit null exactly when PricingQuantity is).
  { id: 'PricingQuantity', level: 'mandatory', nullable: true, type: 'decimal' },
  { id: 'PricingUnit', level: 'mandatory', nullable: true, type: 'string' },
  // § Columns › Resource ID / Resource Type: Conditional, nullable, String.
  { id: 'ResourceId', level: 'conditional', nullable: true, type: 'string' },
  { id: 'ResourceType', level: 'conditional', nullable: true, type: 'string' },
  // § Columns › Allocated Method ID (1.3): present when the data generator supports split cost allocation; String, null iff the charge is not part of one.
  { id: 'AllocatedMethodId', level: 'conditional', nullable: true, type: 'string' },
  // § Columns › Allocated Method Details (1.3): JSON object (Allocated Method Details Object), null iff AllocatedMethodId is.
  { id: 'AllocatedMethodDetails', level: 'recommended', nullable: true, type: 'json-object' },
  // § Columns › Allocated Resource ID / Allocated Resource Name (1.3): present with split cost allocation; String; null on an unallocated portion.
  { id: 'AllocatedResourceId', level: 'conditional', nullable: true, type: 'string' },
  { id: 'AllocatedResourceName', level: 'conditional', nullable: true, type: 'string' },
  // § Columns › Allocated Tags (1.3): present with split cost allocation; JSON in Key-Value Format.
  { id: 'AllocatedTags', level: 'conditional', nullable: true, type: 'key-value' },
];

/**
 * Conditional columns a dataset with split cost allocation must carry
 * (§ Columns › AllocatedMethodId, AllocatedResourceId, AllocatedResourceName,
 * AllocatedTags: "MUST be present ... when the data generator supports data
 * generator-calculated split cost allocation").
 */
export const SPLIT_COST_ALLOCATION_COLUMNS = ['AllocatedMethodId', 'AllocatedResourceId', 'AllocatedResourceName', 'AllocatedTags'] as const;

/** § Numeric Format: an integer or decimal, `-` for negatives only, no `+`, exponent, separators or units. */
const DECIMAL = /^-?\d+(\.\d+)?$/;
/** § Date/Time Format: UTC, extended ISO 8601 'YYYY-MM-DDTHH:mm:ssZ'. */
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
/** § Currency Format: a three-letter ISO 4217 code for a national currency. */
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why a non-null cell breaks its column's type, or undefined. */
function typeProblem(rule: FocusColumnRule, cell: string): string | undefined {
  switch (rule.type) {
    case 'decimal':
      return DECIMAL.test(cell) ? undefined : 'not a decimal in Numeric Format';
    case 'datetime':
      return DATETIME.test(cell) && new Date(cell).toISOString() === cell.replace('Z', '.000Z') ? undefined : 'not a UTC date-time YYYY-MM-DDTHH:mm:ssZ';
    case 'currency':
      return /^[A-Z]{3}$/.test(cell) && CURRENCIES.has(cell) ? undefined : 'not an ISO 4217 currency code';
    case 'string':
      // § String Handling: a value SHOULD NOT be whitespace only.
      return cell.trim() === '' ? 'whitespace only' : undefined;
    case 'key-value': {
      // § Key-Value Format: a serialised JSON object, values number, string, boolean or null (no objects, no arrays).
      let value: unknown;
      try {
        value = JSON.parse(cell);
      } catch {
        return 'not JSON';
      }
      if (!isObject(value)) return 'not a JSON object';
      const bad = Object.entries(value).find(([, v]) => v !== null && !['number', 'string', 'boolean'].includes(typeof v));
      return bad ? `key ${bad[0]} holds an object or array` : undefined;
    }
    case 'json-object': {
      // § Allocated Method Details › Allocated Method Details Object: {"Elements": [{AllocatedRatio: number, UsageUnit?: string, UsageQuantity?: number}, ...]},
      // UsageUnit present when UsageQuantity is; custom keys x_-prefixed.
      let value: unknown;
      try {
        value = JSON.parse(cell);
      } catch {
        return 'not JSON';
      }
      if (!isObject(value) || !Array.isArray(value['Elements']) || value['Elements'].length === 0) return 'no Elements array';
      for (const key of Object.keys(value)) if (key !== 'Elements' && !key.startsWith('x_')) return `unknown key ${key}`;
      for (const element of value['Elements'] as unknown[]) {
        if (!isObject(element)) return 'an element is not an object';
        if (typeof element['AllocatedRatio'] !== 'number') return 'AllocatedRatio is not a number';
        if ('UsageQuantity' in element && typeof element['UsageQuantity'] !== 'number') return 'UsageQuantity is not a number';
        if ('UsageQuantity' in element && typeof element['UsageUnit'] !== 'string') return 'UsageQuantity without a UsageUnit';
        for (const key of Object.keys(element)) if (!['AllocatedRatio', 'UsageUnit', 'UsageQuantity'].includes(key) && !key.startsWith('x_')) return `unknown key ${key}`;
      }
      return undefined;
    }
  }
}

/**
 * The rules of a row that tie one column to another (§ Columns, "nullability
 * is defined as follows" and the like), for the columns the row carries. A
 * rule on a column the dataset does not carry (SkuPriceId, a conditional
 * column: present when the service provider publishes price lists) is
 * applied only when it is there: without it, PricingQuantity follows the
 * ChargeCategory rules alone.
 */
function rowProblems(header: readonly string[], row: Record<string, string>): string[] {
  const has = (c: string): boolean => header.includes(c);
  const cell = (c: string): string => row[c] ?? '';
  const out: string[] = [];
  const category = cell('ChargeCategory');
  const correction = cell('ChargeClass') === 'Correction';
  if (has('PricingQuantity')) {
    // § Pricing Quantity: MUST be null when SkuPriceId is null; MUST be null when ChargeCategory is "Tax"; MUST NOT be null when
    // ChargeCategory is "Usage" or "Purchase" and ChargeClass is not "Correction".
    if (has('SkuPriceId') && cell('SkuPriceId') === '' && cell('PricingQuantity') !== '') out.push('PricingQuantity not null where SkuPriceId is null');
    if (category === 'Tax' && cell('PricingQuantity') !== '') out.push('PricingQuantity not null on a Tax charge');
    if ((category === 'Usage' || category === 'Purchase') && !correction && cell('PricingQuantity') === '') out.push(`PricingQuantity null on a ${category} charge`);
  }
  // § Pricing Unit: MUST be null when PricingQuantity is null, MUST NOT be null when it is not.
  if (has('PricingUnit') && has('PricingQuantity') && (cell('PricingUnit') === '') !== (cell('PricingQuantity') === '')) out.push('PricingUnit and PricingQuantity not null together');
  // § Contracted Cost: MUST match the BilledCost when ChargeCategory is "Credit" (ContractedUnitPrice null).
  if (has('ContractedCost') && has('BilledCost') && category === 'Credit' && cell('ContractedCost') !== cell('BilledCost')) out.push('ContractedCost is not the BilledCost of a Credit');
  // § Allocated Resource Name: MUST be null when AllocatedResourceId is null, MUST NOT be null when it is not.
  if (has('AllocatedResourceName') && has('AllocatedResourceId') && (cell('AllocatedResourceName') === '') !== (cell('AllocatedResourceId') === '')) {
    out.push('AllocatedResourceName and AllocatedResourceId not null together');
  }
  return out;
}

/**
 * Every breach of the column rules in a FOCUS CSV (header and rows as
 * csv-parse reads them with `columns: true`): FOCUS columns known to the
 * table, custom columns x_-prefixed (§ Column Handling), and for each row and
 * column it carries: nullability, type and allowed values, and the rules
 * between its columns (rowProblems). Presence of mandatory columns is
 * checked by the caller.
 */
export function focusViolations(header: readonly string[], rows: readonly Record<string, string>[]): string[] {
  const out: string[] = [];
  const rules = new Map(FOCUS_RULES.map((r) => [r.id, r]));
  for (const column of header) {
    // § Column Handling: custom columns MUST be prefixed with x_.
    if (!rules.has(column) && !column.startsWith('x_')) out.push(`column ${column}: neither a FOCUS column of the table nor x_-prefixed`);
  }
  rows.forEach((row, i) => {
    for (const column of header) {
      const rule = rules.get(column);
      if (rule === undefined) continue;
      const cell = row[column] ?? '';
      if (cell === '') {
        if (!rule.nullable) out.push(`row ${i + 1} ${column}: null in a column that allows none`);
        continue;
      }
      const problem = typeProblem(rule, cell);
      if (problem !== undefined) out.push(`row ${i + 1} ${column}: ${JSON.stringify(cell)} ${problem}`);
      if (rule.allowed && !rule.allowed.includes(cell)) out.push(`row ${i + 1} ${column}: ${JSON.stringify(cell)} is not an allowed value`);
    }
    for (const problem of rowProblems(header, row)) out.push(`row ${i + 1}: ${problem}`);
  });
  return out;
}
