/**
 * What an alert says beyond the judged numbers: the cells (pool, weight
 * basis) its factors are split over, its exact CPPs, the model versions and
 * the pools' utilisation and price. Read once per run, for exactly the
 * (day, key) pairs the run's alerts name, over the same hours the alert
 * judged (whole days, or the first hours of an unfinished day).
 */
import { z } from 'zod';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { Cell } from './decompose.js';
import type { FactorContext } from './explain.js';
import { DAY_MS, formatDate, parseDate } from '../util/time.js';

/** One alert key: (model, feature, tenant or '', currency). */
export interface KeyName {
  key: string;
  model: string;
  feature: string;
  tenant: string;
  currency: string;
}

export type PoolCell = Cell & { pool: string };

const cellRow = z.object({
  day: z.string(), model_id: z.string(), feature_id: z.string(), tenant: z.string(), currency: z.string(), pool_id: z.string(),
  weight_basis: z.string(), requests: z.number(), gpu_ms: z.number(), cost: z.number(), used_cost: z.number(),
});
const cppRow = z.object({ day: z.string(), model_id: z.string(), feature_id: z.string(), tenant: z.string(), currency: z.string(), loaded_cpp: z.string(), used_cpp: z.string() });
const versionRow = z.object({ day: z.string(), model_id: z.string(), feature_id: z.string(), tenant: z.string(), currency: z.string(), version: z.string(), total_requests: z.coerce.number() });
const poolDayRow = z.object({
  day: z.string(), pool_id: z.string(), currency: z.string(), used_gpu_ms: z.number(), capacity_gpu_ms: z.number().nullable(), billed_cost: z.number(),
});
type PoolDay = z.infer<typeof poolDayRow>;

export const keyOf = (r: { model_id: string; feature_id: string; tenant: string; currency: string }): string => [r.model_id, r.feature_id, r.tenant, r.currency].join('/');
const pairOf = (day: string, key: string): string => `${day}\n${key}`;
const nextDay = (day: string): string => formatDate(parseDate(day) + DAY_MS);

/** The (day, key) pairs a run's alerts need, gathered while judging. */
export class AskedPairs {
  private readonly pairs = new Map<string, { day: string; key: KeyName }>();

  add(day: string, key: KeyName): void {
    this.pairs.set(pairOf(day, key.key), { day, key });
  }

  get size(): number {
    return this.pairs.size;
  }

  values(): IterableIterator<{ day: string; key: KeyName }> {
    return this.pairs.values();
  }
}

/**
 * The details of the pairs asked, over the first `hours` hours of each day
 * (24: whole days): four queries, whatever the number of days and alerts.
 */
export class AlertDetails {
  private readonly cellsOf = new Map<string, PoolCell[]>();
  private readonly cpps = new Map<string, z.infer<typeof cppRow>>();
  private readonly versions = new Map<string, Map<string, number>>();
  private readonly pools = new Map<string, PoolDay>();

  static async fetch(warehouse: Warehouse, byTenant: boolean, asked: AskedPairs, hours: number): Promise<AlertDetails> {
    const details = new AlertDetails();
    if (asked.size === 0) return details;
    let body = '';
    let from = '9999-12-31';
    let to = '0000-01-01';
    for (const { day, key } of asked.values()) {
      body += `${JSON.stringify([day, key.model, key.feature, key.tenant, key.currency])}\n`;
      if (day < from) from = day;
      if (day > to) to = day;
    }
    const table = {
      param: 'asked', body,
      columns: [['day', 'Date'], ['model_id', 'String'], ['feature_id', 'String'], ['tenant', 'String'], ['currency', 'String']] as const,
    };
    const params = { from, to: nextDay(to), by_tenant: byTenant, hours };
    const cells = await warehouse.queryWithTable(sqlFile('alerts/asked-cells'), params, table, cellRow);
    const cpps = await warehouse.queryWithTable(sqlFile('alerts/asked-cpp'), params, table, cppRow);
    const versions = await warehouse.queryWithTable(sqlFile('alerts/asked-versions'), params, table, versionRow);
    const pools = await warehouse.query(sqlFile('alerts/pool-days'), { from, to: nextDay(to), hours }, poolDayRow);
    for (const r of cells) {
      const k = pairOf(r.day, keyOf(r));
      const list = details.cellsOf.get(k) ?? [];
      list.push({ cell: `${r.pool_id}|${r.weight_basis}`, pool: r.pool_id, requests: r.requests, gpuMs: r.gpu_ms, loadedCost: r.cost, usedCost: r.used_cost });
      details.cellsOf.set(k, list);
    }
    for (const r of cpps) details.cpps.set(pairOf(r.day, keyOf(r)), r);
    for (const r of versions) {
      const k = pairOf(r.day, keyOf(r));
      const m = details.versions.get(k) ?? new Map<string, number>();
      m.set(r.version === '' ? '(none)' : r.version, r.total_requests);
      details.versions.set(k, m);
    }
    for (const p of pools) details.pools.set(`${p.day}|${p.pool_id}|${p.currency}`, p);
    return details;
  }

  /** The key's cells (pool, weight basis) on a day. */
  cells(day: string, key: string): PoolCell[] {
    return this.cellsOf.get(pairOf(day, key)) ?? [];
  }

  /** Exact CPP of a metric (Decimal division in the warehouse), as text. */
  cpp(day: string, key: string, metric: 'loaded' | 'used'): string {
    const exact = this.cpps.get(pairOf(day, key));
    return (metric === 'loaded' ? exact?.loaded_cpp : exact?.used_cpp) ?? '0';
  }

  /** Share of the key's requests per model version on a day. */
  versionShares(day: string, key: string): Map<string, number> {
    const counts = this.versions.get(pairOf(day, key)) ?? new Map<string, number>();
    const total = [...counts.values()].reduce((x, y) => x + y, 0);
    return new Map([...counts].map(([v, n]) => [v, total > 0 ? n / total : 0]));
  }

  /** What the numbers alone do not say, for an alert measured from `baselineDay` to `day`. */
  context(key: KeyName, baselineDay: string, day: string): FactorContext {
    const baselineCells = this.cells(baselineDay, key.key);
    const observedCells = this.cells(day, key.key);
    const versionGrowth = grewMost(this.versionShares(baselineDay, key.key), this.versionShares(day, key.key));
    const poolGrowth = grewMost(shares(baselineCells), shares(observedCells));
    const before = this.poolFigures(baselineDay, baselineCells, key.currency);
    const after = this.poolFigures(day, baselineCells, key.currency);
    const paidBefore = usedPricePerGpuHour(baselineCells, baselineCells);
    const paidAfter = usedPricePerGpuHour(observedCells, baselineCells);
    return {
      versionNote: versionGrowth ? `since model_version ${versionGrowth}` : undefined,
      utilisation: before.util !== undefined && after.util !== undefined ? { before: before.util, after: after.util } : undefined,
      pricePerGpuHour: paidBefore !== undefined && paidAfter !== undefined ? { before: paidBefore, after: paidAfter } : undefined,
      poolPricePerGpuHour: before.price !== undefined && after.price !== undefined ? { before: before.price, after: after.price } : undefined,
      mixNote: poolGrowth ? `towards pool ${poolGrowth}` : undefined,
    };
  }

  /**
   * Utilisation and billed price per GPU-hour of a key's pools on a day,
   * weighted by the key's GPU-ms in each pool on `weights`' day (the
   * baseline), so a shift between pools shows as mix, not as a price or
   * utilisation change.
   */
  private poolFigures(day: string, weights: readonly PoolCell[], currency: string): { util?: number; price?: number } {
    let weight = 0;
    let util = 0;
    let price = 0;
    for (const c of weights) {
      const p = this.pools.get(`${day}|${c.pool}|${currency}`);
      if (!p || p.capacity_gpu_ms === null || p.capacity_gpu_ms <= 0 || c.gpuMs <= 0) continue;
      weight += c.gpuMs;
      util += c.gpuMs * (p.used_gpu_ms / p.capacity_gpu_ms);
      price += c.gpuMs * (p.billed_cost / p.capacity_gpu_ms) * 3.6e6;
    }
    return weight > 0 ? { util: util / weight, price: price / weight } : {};
  }
}

/**
 * What the key's used GPU time cost per GPU-hour in `cells`, each cell
 * weighted by its GPU-ms in `weights`: the quantity the price factor moves
 * (used cost / GPU-ms). It can differ from the pools' billed price: used
 * cost is capped at the bill when traffic asks for more GPU time than was
 * billed, and an hour's price weighs by the traffic in it.
 */
function usedPricePerGpuHour(cells: readonly PoolCell[], weights: readonly PoolCell[]): number | undefined {
  const byCell = new Map(cells.map((c) => [c.cell, c]));
  let weight = 0;
  let price = 0;
  for (const w of weights) {
    const c = byCell.get(w.cell);
    if (!c || c.gpuMs <= 0 || w.gpuMs <= 0) continue;
    weight += w.gpuMs;
    price += w.gpuMs * (c.usedCost / c.gpuMs) * 3.6e6;
  }
  return weight > 0 ? price / weight : undefined;
}

function shares(cells: readonly { pool: string; requests: number }[]): Map<string, number> {
  const total = cells.reduce((a, c) => a + c.requests, 0);
  const out = new Map<string, number>();
  for (const c of cells) out.set(c.pool, (out.get(c.pool) ?? 0) + c.requests / total);
  return out;
}

/** The name whose share of requests grew most, if it grew by at least 10 points: "v8 (100% of requests, was 0%)". */
function grewMost(before: Map<string, number>, after: Map<string, number>): string | undefined {
  let best: [string, number] | undefined;
  for (const [name, share] of after) {
    const growth = share - (before.get(name) ?? 0);
    if (growth >= 0.1 && (!best || growth > best[1])) best = [name, growth];
  }
  if (!best) return undefined;
  const [name] = best;
  return `${name} (${Math.round((after.get(name) ?? 0) * 100)}% of requests, was ${Math.round((before.get(name) ?? 0) * 100)}%)`;
}
