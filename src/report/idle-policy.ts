/**
 * Idle policies: who carries the cost of GPU capacity paid for and not used.
 * Each moves cost between lines and never in or out, so for every currency
 * the lines sum to the month's billed total exactly (checked before return).
 *
 * - spread:   owners are fully loaded. A line carries its attributed cost
 *             (idle of the hours with traffic already spread by attribution)
 *             plus a share of its pool's hours that had no traffic at all,
 *             split by the line's attributed cost in the pool (by requests
 *             when that has a credit or sums to 0). A pool with no traffic
 *             in the whole month has nobody to spread over: `(idle)` line.
 * - separate: owners carry the cost of the GPU time they used; all idle is
 *             one `(idle)` line per currency.
 * - owner:    owners carry used cost; each pool's idle goes to the team that
 *             owns the pool (config attribution.pools.<id>.owner) as a line
 *             with model_id `(idle)` and feature_id = the pool; pools without
 *             an owner fall back to the `(idle)` line.
 * Untagged cost is always one `(unallocated)` line per currency.
 */
import { IDLE_OWNER, UNALLOCATED_OWNER } from '../util/reserved-owners.js';
import { splitExact } from '../util/decimal.js';
import type { MonthData, TrafficRow } from './month-data.js';

export const IDLE_POLICIES = ['spread', 'separate', 'owner'] as const;
export type IdlePolicy = (typeof IDLE_POLICIES)[number];

export { IDLE_OWNER, UNALLOCATED_OWNER };

export interface ChargebackLine {
  owner: string;
  model_id: string;
  feature_id: string;
  currency: string;
  requests: bigint;
  input_tokens: bigint;
  output_tokens: bigint;
  /** GPU time in units of 1e-3 ms. */
  gpu_ms: bigint;
  /** Money in units of 1e-12. */
  used_cost: bigint;
  idle_cost: bigint;
  estimated: boolean;
}

export interface PolicyResult {
  lines: ChargebackLine[];
  /** Pools whose idle went to the `(idle)` line although the policy would give it to an owner, with why. */
  idleFallbacks: { pool_id: string; currency: string; reason: string }[];
}

const key = (...parts: string[]): string => JSON.stringify(parts);

export function applyIdlePolicy(data: MonthData, policy: IdlePolicy, poolOwners: Readonly<Record<string, string>>): PolicyResult {
  const lines = new Map<string, ChargebackLine>();
  const line = (owner: string, model: string, feature: string, currency: string): ChargebackLine => {
    const k = key(currency, owner, model, feature);
    let l = lines.get(k);
    if (!l) {
      l = { owner, model_id: model, feature_id: feature, currency, requests: 0n, input_tokens: 0n, output_tokens: 0n, gpu_ms: 0n, used_cost: 0n, idle_cost: 0n, estimated: false };
      lines.set(k, l);
    }
    return l;
  };
  const idleFallbacks: PolicyResult['idleFallbacks'] = [];

  // Traffic rows of each pool and currency, for spreading hours without traffic.
  const byPool = new Map<string, TrafficRow[]>();
  for (const row of data.traffic) {
    const k = key(row.pool_id, row.currency);
    const list = byPool.get(k) ?? [];
    list.push(row);
    byPool.set(k, list);
    const l = line(row.owner, row.model_id, row.feature_id, row.currency);
    l.requests += row.requests;
    l.input_tokens += row.input_tokens;
    l.output_tokens += row.output_tokens;
    l.gpu_ms += row.gpu_ms;
    l.used_cost += row.used_cost;
    if (policy === 'spread') l.idle_cost += row.cost - row.used_cost;
    l.estimated ||= row.estimated;
  }

  for (const pool of data.pools) {
    if (pool.pool_id === '') {
      const l = line(UNALLOCATED_OWNER, '', '', pool.currency);
      l.idle_cost += pool.unallocated;
      l.estimated ||= pool.estimated;
      continue;
    }
    if (policy === 'spread') {
      if (pool.no_traffic_cost === 0n) continue;
      const rows = byPool.get(key(pool.pool_id, pool.currency)) ?? [];
      if (rows.length === 0) {
        const l = line(IDLE_OWNER, '', '', pool.currency);
        l.idle_cost += pool.no_traffic_cost;
        l.estimated ||= pool.estimated;
        idleFallbacks.push({ pool_id: pool.pool_id, currency: pool.currency, reason: 'no traffic in the month to spread over' });
        continue;
      }
      const byCost = rows.every((r) => r.cost >= 0n) && rows.some((r) => r.cost > 0n);
      const shares = splitExact(pool.no_traffic_cost, rows.map((r) => (byCost ? r.cost : r.requests)));
      rows.forEach((r, i) => {
        const l = line(r.owner, r.model_id, r.feature_id, r.currency);
        l.idle_cost += shares[i] ?? 0n;
        l.estimated ||= pool.estimated;
      });
      continue;
    }
    if (pool.idle === 0n) continue;
    const owner = policy === 'owner' ? poolOwners[pool.pool_id] : undefined;
    if (policy === 'owner' && owner === undefined) {
      idleFallbacks.push({ pool_id: pool.pool_id, currency: pool.currency, reason: `no owner configured (attribution.pools.${pool.pool_id}.owner)` });
    }
    const l = owner === undefined ? line(IDLE_OWNER, '', '', pool.currency) : line(owner, IDLE_OWNER, pool.pool_id, pool.currency);
    l.idle_cost += pool.idle;
    l.estimated ||= pool.estimated;
  }

  const result = [...lines.values()].sort(compareLines);
  assertTiesOut(data, result, policy);
  return { lines: result, idleFallbacks };
}

/** Currency, then owners by name with `(idle)` and `(unallocated)` last, then model and feature. */
function compareLines(a: ChargebackLine, b: ChargebackLine): number {
  const special = (l: ChargebackLine): number => (l.owner === UNALLOCATED_OWNER ? 2 : l.owner === IDLE_OWNER ? 1 : 0);
  // Plain code-unit order: localeCompare builds a collator per call, seconds on 50,000 lines.
  return cmp(a.currency, b.currency)
    || special(a) - special(b)
    || cmp(a.owner, b.owner) || cmp(a.model_id, b.model_id) || cmp(a.feature_id, b.feature_id);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Attribution tables that disagree with the bill: no policy can make the lines tie out. */
export class TieOutError extends Error {
  override name = 'TieOutError';
}

/** The policy's promise, checked: per currency, the lines' cost is the billed total to the unit. */
function assertTiesOut(data: MonthData, lines: readonly ChargebackLine[], policy: IdlePolicy): void {
  const billed = new Map<string, bigint>();
  for (const p of data.pools) billed.set(p.currency, (billed.get(p.currency) ?? 0n) + p.billed);
  const costs = new Map<string, bigint>();
  for (const l of lines) costs.set(l.currency, (costs.get(l.currency) ?? 0n) + l.used_cost + l.idle_cost);
  for (const currency of new Set([...billed.keys(), ...costs.keys()])) {
    if ((billed.get(currency) ?? 0n) !== (costs.get(currency) ?? 0n)) {
      throw new TieOutError(`report does not tie out in ${currency} under idle policy ${policy}: billed ${billed.get(currency) ?? 0n} units, lines ${costs.get(currency) ?? 0n} units (attribution tables inconsistent? re-run \`inferledger attribute\` for the month)`);
    }
  }
}
