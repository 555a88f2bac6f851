/**
 * Reads one month of attributed cost from the warehouse (sql/report/*.sql):
 * traffic per (owner, model, feature, pool, currency), the bill per pool,
 * the billing versions, coverage, model versions and daily CPP. Money comes
 * back as Decimal(38, 12) text and is held as bigint units from here on.
 */
import { z } from 'zod';
import { toScaled } from '../util/decimal.js';
import { formatDate, formatDateTime } from '../util/time.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { units } from './exact.js';

export type ReportBy = 'team' | 'tenant';

/** A calendar month, UTC. */
export interface Month {
  /** 'YYYY-MM' */
  label: string;
  start: number;
  end: number;
  days: number;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** Parse 'YYYY-MM' into its UTC bounds, or undefined. */
export function parseMonth(text: string): Month | undefined {
  const m = MONTH.exec(text);
  if (!m) return undefined;
  const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, 1);
  const end = Date.UTC(Number(m[1]), Number(m[2]), 1);
  return { label: text, start, end, days: Math.round((end - start) / 86_400_000) };
}

const money = z.string().transform(units);
const gpuMs = z.string().transform((t) => toScaled(t, 3));
const count = z.coerce.bigint();

const trafficRow = z.object({
  owner: z.string(), model_id: z.string(), feature_id: z.string(), pool_id: z.string(), currency: z.string(),
  requests: count, input_tokens: count, output_tokens: count, gpu_ms: gpuMs,
  cost: money, used_cost: money, estimated: z.boolean(),
});
export type TrafficRow = z.infer<typeof trafficRow>;

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

const modelVersionRow = z.object({
  model_id: z.string(), model_version: z.string(), currency: z.string(),
  requests: count, gpu_ms: gpuMs, cost: money, used_cost: money,
});
export type ModelVersionRow = z.infer<typeof modelVersionRow>;

const dailyRow = z.object({ day: z.string(), model_id: z.string(), currency: z.string(), requests: count, cost: money });
export type DailyModelRow = z.infer<typeof dailyRow>;

export interface MonthData {
  month: Month;
  by: ReportBy;
  traffic: TrafficRow[];
  pools: PoolRow[];
  billingVersions: BillingVersionRow[];
  coverage: z.infer<typeof coverageRow>;
  modelVersions: ModelVersionRow[];
  dailyModels: DailyModelRow[];
}

export async function readMonth(warehouse: Warehouse, month: Month, by: ReportBy): Promise<MonthData> {
  const range = { month_start: formatDateTime(month.start), month_end: formatDateTime(month.end) };
  const days = { month_start: formatDate(month.start), month_end: formatDate(month.end) };
  const [traffic, pools, billingVersions, coverage, modelVersions, dailyModels] = await Promise.all([
    warehouse.query(sqlFile('report/month-lines'), { ...range, by }, trafficRow),
    warehouse.query(sqlFile('report/month-pools'), range, poolRow),
    warehouse.query(sqlFile('report/month-billing-versions'), range, versionRow),
    warehouse.query(sqlFile('report/month-coverage'), days, coverageRow),
    warehouse.query(sqlFile('report/month-versions'), range, modelVersionRow),
    warehouse.query(sqlFile('report/daily-model-cpp'), days, dailyRow),
  ]);
  return {
    month, by, traffic, pools, billingVersions,
    coverage: coverage[0] ?? { days_attributed: 0, pending_requests: 0, unknown_pool_requests: 0 },
    modelVersions, dailyModels,
  };
}
