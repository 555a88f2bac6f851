/**
 * Synthetic attribution output for alert tests: days of cost_allocation,
 * pool_cost, cpp_daily and coverage_daily written straight into the engine,
 * from a model of pools (price, capacity) and keys (requests, GPU-ms per
 * request) with noise, a weekly cycle and regressions injected at known days.
 */
import { seededRandom } from '../../src/util/random.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { DAY_MS } from '../../src/util/time.js';

export const START = Date.UTC(2026, 8, 1); // a Tuesday
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
  /**
   * Hourly billing periods instead of one per day: each day's traffic spread
   * over its hours by `profile` (a diurnal shape), every pool billed hour by
   * hour. The last day holds only its first `lastDayHours` hours (the current
   * day, attributed so far), its other traffic counted as pending.
   */
  hourly?: { profile: (hour: number) => number; lastDayHours?: number };
}

const money = (x: number): string => x.toFixed(9);

/** Write the scenario's attribution tables. */
export async function writeScenario(w: Warehouse, s: Scenario): Promise<void> {
  const random = seededRandom(s.seed ?? 11);
  const noise = s.noise ?? 0.05;
  const jitter = (): number => 1 + noise * (2 * random() - 1);
  const attributedAt = s.attributedAt ?? '2026-11-01 00:00:00.000';
  const profile = s.hourly?.profile;
  const profileSum = profile ? Array.from({ length: 24 }, (_, h) => profile(h)).reduce((a, x) => a + x, 0) : 1;
  // Billing periods of a day: [start hour, hours, share of the day's traffic].
  const periodsOf = (d: number): [number, number, number][] => {
    if (!profile) return [[0, 24, 1]];
    const last = d === s.days - 1 ? (s.hourly?.lastDayHours ?? 24) : 24;
    return Array.from({ length: last }, (_, h) => [h, 1, profile(h) / profileSum]);
  };
  const at = (d: number, hour: number): string => new Date(START + d * DAY_MS + hour * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
  for (let d = 0; d < s.days; d++) {
    const day = dayOf(d);
    const weekly = isWeekend(d) ? (s.weekend ?? 0.55) : 1;
    // Per pool: each key's requests that day and its GPU-ms per request.
    const usage = new Map<string, { key: KeySpec; requests: number; e: number }[]>();
    for (const key of s.keys) {
      const e = key.gpuMsPerRequest(d) * (1 + (noise / 2) * (2 * random() - 1));
      for (const [pool, n] of Object.entries(key.requests(d))) {
        const requests = Math.max(0, Math.round(n * weekly * jitter()));
        if (requests === 0) continue;
        const list = usage.get(pool) ?? [];
        list.push({ key, requests, e });
        usage.set(pool, list);
      }
    }
    const allocation: Record<string, unknown>[] = [];
    const pools: Record<string, unknown>[] = [];
    const cpp = new Map<string, { key: KeySpec; requests: number; gpuMs: number; cost: number; usedCost: number }>();
    let dayRequests = 0;
    let pending = 0;
    const periods = periodsOf(d);
    const billedShare = periods.reduce((a, [, , share]) => a + share, 0);
    for (const [hour, hours, share] of periods) {
      const start = at(d, hour);
      const end = at(d, hour + hours);
      const periodMs = hours * 3_600_000;
      for (const pool of s.pools) {
        const list = (usage.get(pool.id) ?? []).map((u) => {
          const requests = Math.round(u.requests * share);
          return { key: u.key, requests, gpuMs: Math.round(requests * u.e) };
        }).filter((u) => u.requests > 0);
        const used = list.reduce((a, u) => a + u.gpuMs, 0);
        const gpus = pool.gpus ? pool.gpus(d) : Math.max(1, used / periodMs / (pool.targetUtil ?? 0.6));
        const capacity = gpus * periodMs;
        const billed = pool.pricePerGpuHour(d) * gpus * hours * (1 + 0.002 * (2 * random() - 1));
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
          const k = `${u.key.model}/${u.key.feature}/${u.key.version?.(d) ?? 'v1'}`;
          const c = cpp.get(k) ?? { key: u.key, requests: 0, gpuMs: 0, cost: 0, usedCost: 0 };
          c.requests += u.requests;
          c.gpuMs += u.gpuMs;
          c.cost += cost;
          c.usedCost += uc;
          cpp.set(k, c);
          dayRequests += u.requests;
        }
        const coveredHours = s.coverage?.[d]?.hours;
        pools.push({
          period_start: start,
          period_end: coveredHours === undefined ? end : `${day} ${String(coveredHours).padStart(2, '0')}:00:00`.replace(' 24:00:00', ' 23:59:59'),
          pool_id: pool.id, currency: 'USD',
          billed_cost: money(billed), allocated_cost: money(list.length > 0 ? billed : 0), used_cost: money(usedCost), idle_cost: money(billed - usedCost),
          unallocated_cost: '0', capacity_gpu_ms: String(Math.round(capacity)), used_gpu_ms: String(used), utilization: (used / capacity).toFixed(6),
          requests: list.reduce((a, u) => a + u.requests, 0), weight_basis: 'gpu_ms', billing_version: '2026-11-01 00:00:00.000000', estimated: false, attributed_at: attributedAt,
        });
      }
    }
    // Traffic of the hours not billed yet waits for its bill.
    if (billedShare < 1) for (const list of usage.values()) for (const u of list) pending += Math.round(u.requests * (1 - billedShare));
    await w.insertObjects('cost_allocation', allocation);
    await w.insertObjects('pool_cost', pools);
    await w.insertObjects('cpp_daily', [...cpp.values()].map((c) => ({
      day, model_id: c.key.model, model_version: c.key.version?.(d) ?? 'v1', feature_id: c.key.feature, team: 'team', tenant_id: 't1',
      currency: 'USD', requests: c.requests, input_tokens: 0, output_tokens: 0, gpu_ms: String(c.gpuMs), cost: money(c.cost), used_cost: money(c.usedCost),
      cpp: money(c.cost / c.requests), cost_per_1k_tokens: null, estimated: false, attributed_at: attributedAt,
    })));
    await w.insertObjects('coverage_daily', [{
      day, currency: 'USD', billed_cost: '0', allocated_cost: '0', idle_cost: '0', unallocated_cost: '0', requests: dayRequests + pending,
      attributed_requests: dayRequests, pending_requests: s.coverage?.[d]?.pending_requests ?? pending, unknown_pool_requests: 0, attributed_at: attributedAt,
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
