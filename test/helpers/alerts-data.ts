/**
 * Synthetic attribution output for alert tests: days of cost_allocation,
 * pool_cost, cpp_daily and coverage_daily written straight into the engine,
 * from a model of pools (price, capacity) and keys (requests, GPU-ms per
 * request) with noise, a weekly cycle and regressions injected at known days.
 */
import { seededRandom } from '../../src/util/random.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';

export const START = Date.UTC(2026, 8, 1); // a Tuesday
const DAY_MS = 86_400_000;
const GPU_DAY_MS = 24 * 3_600_000;

export const dayOf = (i: number): string => new Date(START + i * DAY_MS).toISOString().slice(0, 10);
const isWeekend = (i: number): boolean => [0, 6].includes(new Date(START + i * DAY_MS).getUTCDay());

export interface PoolSpec {
  id: string;
  pricePerGpuHour: (day: number) => number;
  /** GPUs billed that day; undefined: sized so that utilisation is `targetUtil` (autoscaling). */
  gpus?: (day: number) => number;
  targetUtil?: number;
}

export interface KeySpec {
  model: string;
  feature: string;
  /** Requests on a weekday, per pool. */
  requests: (day: number) => Record<string, number>;
  gpuMsPerRequest: (day: number) => number;
  version?: (day: number) => string;
}

export interface Scenario {
  days: number;
  pools: PoolSpec[];
  keys: KeySpec[];
  /** Weekend traffic as a share of weekdays. */
  weekend?: number;
  noise?: number;
  seed?: number;
  /** Overrides of coverage_daily per day index (e.g. pending requests). */
  coverage?: Record<number, { pending_requests?: number; hours?: number }>;
  attributedAt?: string;
}

const money = (x: number): string => x.toFixed(9);

/** Write the scenario's attribution tables. */
export async function writeScenario(w: Warehouse, s: Scenario): Promise<void> {
  const random = seededRandom(s.seed ?? 11);
  const noise = s.noise ?? 0.05;
  const jitter = (): number => 1 + noise * (2 * random() - 1);
  const attributedAt = s.attributedAt ?? '2026-11-01 00:00:00.000';
  for (let d = 0; d < s.days; d++) {
    const day = dayOf(d);
    const start = `${day} 00:00:00`;
    const end = `${dayOf(d + 1)} 00:00:00`;
    const weekly = isWeekend(d) ? (s.weekend ?? 0.55) : 1;
    // Per pool: each key's requests and GPU time that day.
    const usage = new Map<string, { key: KeySpec; requests: number; gpuMs: number }[]>();
    for (const key of s.keys) {
      const e = key.gpuMsPerRequest(d) * (1 + (noise / 2) * (2 * random() - 1));
      for (const [pool, n] of Object.entries(key.requests(d))) {
        const requests = Math.max(0, Math.round(n * weekly * jitter()));
        if (requests === 0) continue;
        const list = usage.get(pool) ?? [];
        list.push({ key, requests, gpuMs: Math.round(requests * e) });
        usage.set(pool, list);
      }
    }
    const allocation: Record<string, unknown>[] = [];
    const pools: Record<string, unknown>[] = [];
    const cpp: Record<string, unknown>[] = [];
    let dayRequests = 0;
    for (const pool of s.pools) {
      const list = usage.get(pool.id) ?? [];
      const used = list.reduce((a, u) => a + u.gpuMs, 0);
      const gpus = pool.gpus ? pool.gpus(d) : Math.max(1, used / GPU_DAY_MS / (pool.targetUtil ?? 0.6));
      const capacity = gpus * GPU_DAY_MS;
      const billed = pool.pricePerGpuHour(d) * gpus * 24 * (1 + 0.002 * (2 * random() - 1));
      const usedCost = Math.min(billed, (billed * used) / capacity);
      for (const u of list) {
        const cost = used > 0 ? (billed * u.gpuMs) / used : 0;
        const uc = used > 0 ? (usedCost * u.gpuMs) / used : 0;
        allocation.push({
          period_start: start, period_end: end, pool_id: pool.id, model_id: u.key.model, model_version: u.key.version?.(d) ?? 'v1',
          feature_id: u.key.feature, tenant_id: 't1', team: 'team', requests: u.requests, input_tokens: 0, output_tokens: 0,
          gpu_ms: String(u.gpuMs), weight_basis: 'gpu_ms', cost: money(cost), used_cost: money(uc), currency: 'USD',
          billing_version: '2026-11-01 00:00:00.000000', estimated: false, attributed_at: attributedAt,
        });
        cpp.push({
          day, model_id: u.key.model, model_version: u.key.version?.(d) ?? 'v1', feature_id: u.key.feature, team: 'team', tenant_id: 't1',
          currency: 'USD', requests: u.requests, input_tokens: 0, output_tokens: 0, gpu_ms: String(u.gpuMs), cost: money(cost), used_cost: money(uc),
          cpp: money(cost / u.requests), cost_per_1k_tokens: null, estimated: false, attributed_at: attributedAt,
        });
        dayRequests += u.requests;
      }
      const hours = s.coverage?.[d]?.hours ?? 24;
      pools.push({
        period_start: start, period_end: `${day} ${String(hours).padStart(2, '0')}:00:00`.replace(' 24:00:00', ' 23:59:59'),
        pool_id: pool.id, currency: 'USD',
        billed_cost: money(billed), allocated_cost: money(list.length > 0 ? billed : 0), used_cost: money(usedCost), idle_cost: money(billed - usedCost),
        unallocated_cost: '0', capacity_gpu_ms: String(Math.round(capacity)), used_gpu_ms: String(used), utilization: (used / capacity).toFixed(6),
        requests: list.reduce((a, u) => a + u.requests, 0), weight_basis: 'gpu_ms', billing_version: '2026-11-01 00:00:00.000000', estimated: false, attributed_at: attributedAt,
      });
    }
    if (s.coverage?.[d]?.hours === undefined) for (const p of pools) p['period_end'] = end;
    await w.insertObjects('cost_allocation', allocation);
    await w.insertObjects('pool_cost', pools);
    await w.insertObjects('cpp_daily', cpp);
    await w.insertObjects('coverage_daily', [{
      day, currency: 'USD', billed_cost: '0', allocated_cost: '0', idle_cost: '0', unallocated_cost: '0', requests: dayRequests,
      attributed_requests: dayRequests, pending_requests: s.coverage?.[d]?.pending_requests ?? 0, unknown_pool_requests: 0, attributed_at: attributedAt,
    }]);
  }
}

/** Re-attribute one day's coverage row (as a restatement would): a newer attributed_at. */
export async function reattribute(w: Warehouse, d: number, attributedAt: string, pending = 0): Promise<void> {
  await w.command('ALTER TABLE coverage_daily DELETE WHERE day = {day:Date}', { day: dayOf(d) }, { mutations_sync: '2' });
  await w.insertObjects('coverage_daily', [{
    day: dayOf(d), currency: 'USD', billed_cost: '0', allocated_cost: '0', idle_cost: '0', unallocated_cost: '0', requests: 1,
    attributed_requests: 1, pending_requests: pending, unknown_pool_requests: 0, attributed_at: attributedAt,
  }]);
}
