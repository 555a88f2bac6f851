/**
 * Reads one month of attributed cost from the warehouse (sql/report/*.sql):
 * traffic per (owner, model, feature, pool, currency), the bill per pool,
 * the billing versions, the rate-card versions that priced it, coverage,
 * model versions and daily CPP (readMonth, what every report and budgets
 * read), and, apart, the month on every FOCUS cost column for
 * focus-allocated.csv (readCostColumns, only what writes that file pays for
 * it). Money comes back as Decimal(38, 12) text and is held as
 * bigint units from here on.
 */
import { z } from 'zod';
import { PRICE_UNITS } from '../pricing/rate-card.js';
import { MONEY_SCALE, toScaled } from '../util/decimal.js';
import { formatDate, formatDateTime, type Month } from '../util/time.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export type ReportBy = 'team' | 'tenant';

/** A plain decimal as the warehouse writes one (no exponent, no more fractional digits than the scale). */
const PLAIN = /^(-?)(\d+)(?:\.(\d+))?$/;
/**
 * Units of 10^-scale of a decimal from the warehouse: the plain text the
 * warehouse writes read straight into a bigint (50,000 groups of a month are
 * three of these each), anything else through toScaled. The same count as
 * toScaled either way.
 */
function warehouseUnits(text: string, scale: number): bigint {
  const m = PLAIN.exec(text);
  const [, sign = '', int = '', frac = ''] = m ?? [];
  if (m === null || frac.length > scale) return toScaled(text, scale);
  const n = BigInt(int + frac.padEnd(scale, '0'));
  return sign === '-' ? -n : n;
}
const money = z.string().transform((t) => warehouseUnits(t, MONEY_SCALE));
const gpuMs = z.string().transform((t) => warehouseUnits(t, 3));
const count = z.coerce.bigint();

const groupRow = z.object({
  pool_id: z.string(), currency: z.string(), team: z.string(), tenant_id: z.string(), model_id: z.string(), model_version: z.string(), feature_id: z.string(),
  requests: count, input_tokens: count, output_tokens: count, gpu_ms: gpuMs,
  cost: money, used_cost: money, estimated: z.boolean(),
});
/** The month's traffic at its finest grain: (pool, currency, team, tenant, model, version, feature). */
export type GroupRow = z.infer<typeof groupRow>;

/** The month's traffic per (owner, model, feature, pool, currency). */
export interface TrafficRow {
  owner: string; model_id: string; feature_id: string; pool_id: string; currency: string;
  requests: bigint; input_tokens: bigint; output_tokens: bigint; gpu_ms: bigint; cost: bigint; used_cost: bigint; estimated: boolean;
}

const poolRow = z.object({
  pool_id: z.string(), currency: z.string(),
  billed: money, used: money, idle: money, unallocated: money, correction: money, no_traffic_cost: money, estimated_cost: money,
  hours: z.coerce.number(), hours_without_traffic: z.coerce.number(), requests: count,
  used_gpu_ms: gpuMs, capacity_gpu_ms: gpuMs.nullable(), peak_used_gpu_ms: gpuMs,
  weight_bases: z.array(z.string()), estimated: z.boolean(),
});
export type PoolRow = z.infer<typeof poolRow>;

const versionRow = z.object({ billing_version: z.string(), pool_hours: z.coerce.number(), estimated: z.boolean() });
export type BillingVersionRow = z.infer<typeof versionRow>;

const coverageRow = z.object({ days_attributed: z.coerce.number(), pending_requests: z.coerce.number(), unknown_pool_requests: z.coerce.number() });

/** A model version's month in one currency. */
export interface ModelVersionRow { model_id: string; model_version: string; currency: string; requests: bigint; gpu_ms: bigint; cost: bigint; used_cost: bigint }

const dailyRow = z.object({ day: z.string(), model_id: z.string(), currency: z.string(), requests: count, cost: money });
export type DailyModelRow = z.infer<typeof dailyRow>;

const rateCardRow = z.object({
  pool_id: z.string(), change_id: z.string(), changed_at: z.string(), changed_by: z.string(), reason: z.string(),
  price_unit: z.enum(PRICE_UNITS), price: money, currency: z.string(), gpus: z.coerce.number(), instances: z.coerce.number(),
  gpus_per_instance: z.coerce.number(), gpu_type: z.string(), mig_profile: z.string(), mig_slices: z.coerce.number(),
  time_sliced: z.boolean(), capacity_gpus: money, hours: z.coerce.number(), effective: money, billed: money,
});
/**
 * A rate-card version that priced counted hours of the month: the version
 * (who set it, when, why, its price) and the month's hours of its pool it
 * holds that no cloud bill covers, with their cost on both bases.
 */
export type RateCardVersionRow = z.infer<typeof rateCardRow>;

/** An integer count of 1e-12 units as text (the FOCUS cost queries' amounts: read without decimal parsing). */
const unitCount = z.string().regex(/^-?\d+$/).transform((t) => BigInt(t));
const costColumns = { billed: unitCount, effective: unitCount, list: unitCount, contracted: unitCount, quantity: unitCount };
const poolBillRow = z.object({
  pool_id: z.string(), currency: z.string(), service: z.string(), ...costColumns,
  units: z.array(z.string()), billing_account_id: z.string(), provider: z.string(),
});
/**
 * The month's bill of a pool on each FOCUS cost column and its quantity;
 * untagged cost (pool '') per service, tagged pools with service ''.
 * contracted is FOCUS's default (ListCost, BilledCost on a Credit line): the
 * bill stores no contracted cost. units: the distinct units of the lines with
 * a quantity (quantity adds up one thing only when there is one).
 * billing_account_id and provider: those of the lines carrying the most
 * BilledCost ('' when the bill had none).
 */
export type PoolBillRow = z.infer<typeof poolBillRow>;
const usedCostRow = z.object({
  pool_id: z.string(), currency: z.string(), team: z.string(), tenant_id: z.string(), model_id: z.string(), model_version: z.string(), feature_id: z.string(),
  ...costColumns,
});
/** The cost of the GPU time a group (as in GroupRow) used on each FOCUS cost column, and its share of the pool's quantity, split by the weights of the attributed basis. */
export type UsedCostRow = z.infer<typeof usedCostRow>;

/**
 * The month on every FOCUS cost column (BilledCost, EffectiveCost,
 * ListCost, ContractedCost) and quantity, whichever basis it was attributed
 * on: what focus-allocated.csv splits each column by. Per pool-hour, used +
 * idle = the bill on each column.
 */
export interface CostColumns {
  pools: PoolBillRow[];
  used: UsedCostRow[];
}

export interface MonthData {
  month: Month;
  by: ReportBy;
  groups: GroupRow[];
  traffic: TrafficRow[];
  pools: PoolRow[];
  billingVersions: BillingVersionRow[];
  coverage: z.infer<typeof coverageRow>;
  modelVersions: ModelVersionRow[];
  dailyModels: DailyModelRow[];
  /** Oldest first per pool; empty for a month no card priced. */
  rateCards: RateCardVersionRow[];
}

export async function readMonth(warehouse: Warehouse, month: Month, by: ReportBy): Promise<MonthData> {
  const range = { month_start: formatDateTime(month.start), month_end: formatDateTime(month.end) };
  const days = { month_start: formatDate(month.start), month_end: formatDate(month.end) };
  const [groups, pools, billingVersions, coverage, dailyModels, rateCards] = await Promise.all([
    warehouse.query(sqlFile('report/month-groups'), range, groupRow),
    warehouse.query(sqlFile('report/month-pools'), range, poolRow),
    warehouse.query(sqlFile('report/month-billing-versions'), range, versionRow),
    warehouse.query(sqlFile('report/month-coverage'), days, coverageRow),
    warehouse.query(sqlFile('report/daily-model-cpp'), days, dailyRow),
    warehouse.query(sqlFile('report/month-rate-cards'), range, rateCardRow),
  ]);
  return {
    month, by, groups, pools, billingVersions, rateCards,
    traffic: sumBy(groups, (g) => [by === 'tenant' ? g.tenant_id : g.team, g.model_id, g.feature_id, g.pool_id, g.currency], (g, [owner = '', model_id = '', feature_id = '', pool_id = '', currency = '']) => ({
      owner, model_id, feature_id, pool_id, currency, requests: g.requests, input_tokens: g.input_tokens, output_tokens: g.output_tokens,
      gpu_ms: g.gpu_ms, cost: g.cost, used_cost: g.used_cost, estimated: g.estimated,
    })),
    coverage: coverage[0] ?? { days_attributed: 0, pending_requests: 0, unknown_pool_requests: 0 },
    modelVersions: modelVersionsOf(groups),
    dailyModels,
  };
}

/**
 * The month on every FOCUS cost column, for focus-allocated.csv only (two
 * queries that split the bill again per group: nothing else reads them).
 */
export async function readCostColumns(warehouse: Warehouse, month: Month): Promise<CostColumns> {
  const range = { month_start: formatDateTime(month.start), month_end: formatDateTime(month.end) };
  const [pools, used] = await Promise.all([
    warehouse.query(sqlFile('report/month-pool-bill-costs'), range, poolBillRow),
    warehouse.query(sqlFile('report/month-used-costs'), range, usedCostRow),
  ]);
  return { pools, used };
}

/** Each model version's month per currency, summed from groups (all of the month's, or one owner's). */
export function modelVersionsOf(groups: readonly GroupRow[]): ModelVersionRow[] {
  return sumBy(groups, (g) => [g.model_id, g.model_version, g.currency], (g, [model_id = '', model_version = '', currency = '']) => ({
    model_id, model_version, currency, requests: g.requests, gpu_ms: g.gpu_ms, cost: g.cost, used_cost: g.used_cost,
  }));
}

/** One owner's daily cost and requests per model (an owner pack charts its own CPP, not everyone's). */
export async function readOwnerDailyModels(warehouse: Warehouse, month: Month, by: ReportBy, owner: string): Promise<DailyModelRow[]> {
  return warehouse.query(sqlFile('report/owner-daily-model-cpp'), { month_start: formatDate(month.start), month_end: formatDate(month.end), by, owner }, dailyRow);
}

interface Summable { requests: bigint; gpu_ms: bigint; cost: bigint; used_cost: bigint; input_tokens?: bigint; output_tokens?: bigint; estimated?: boolean }

/** Sum groups by a key, in order of first appearance (the query's order). */
function sumBy<T extends Summable>(groups: readonly GroupRow[], keyOf: (g: GroupRow) => string[], make: (g: GroupRow, key: string[]) => T): T[] {
  const out = new Map<string, T>();
  for (const g of groups) {
    const key = keyOf(g);
    const k = JSON.stringify(key);
    const row = out.get(k);
    if (!row) {
      out.set(k, make(g, key));
      continue;
    }
    row.requests += g.requests;
    row.gpu_ms += g.gpu_ms;
    row.cost += g.cost;
    row.used_cost += g.used_cost;
    if (row.input_tokens !== undefined) row.input_tokens += g.input_tokens;
    if (row.output_tokens !== undefined) row.output_tokens += g.output_tokens;
    if (row.estimated !== undefined) row.estimated ||= g.estimated;
  }
  return [...out.values()];
}
