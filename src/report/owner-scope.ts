/**
 * An owner pack's report: the month's full report restricted to one team or
 * tenant, so every output of the pack (CSV, summary, HTML, FOCUS rows) is
 * written from that owner's own lines and data and can name no other owner.
 *
 * The owner's lines are the full report's line objects, not recomputed: the
 * idle policy was applied to every owner first, so each amount is exactly
 * the one in the full pack. Bill-level totals (billed, all owners together,
 * the `(idle)` and `(unallocated)` lines) stay, as the owner's share of the
 * bill and the proof that the full pack ties out; nothing per other owner
 * does. Pools are those the owner ran on or owns; model versions and daily
 * CPP are recomputed from its own traffic. The rest of `data` (billing
 * versions, coverage, the FOCUS cost columns a pool's idle row is worked out
 * from) is the month's: bill-level, and printed only as totals.
 */
import { IDLE_OWNER, UNALLOCATED_OWNER } from '../util/reserved-owners.js';
import { compareVersions, ReportError, share, type ChargebackReport, type OwnerCurrency } from './chargeback.js';
import type { IdlePolicy } from './idle-policy.js';
import { modelVersionsOf, type DailyModelRow } from './month-data.js';

const poolKey = (currency: string, pool: string): string => JSON.stringify([currency, pool]);

/**
 * The report of `owner`'s pack. `daily` is the owner's own daily cost per
 * model (readOwnerDailyModels). An owner with no line in the month is a
 * ReportError that names no other owner: the pack may be run by or for
 * someone who must not learn who else is charged.
 */
export function ownerReport(report: ChargebackReport, owner: string, daily: readonly DailyModelRow[]): ChargebackReport {
  const { options, data } = report;
  const lines = report.lines.filter((l) => l.owner === owner && l.owner !== IDLE_OWNER && l.owner !== UNALLOCATED_OWNER);
  if (lines.length === 0) {
    throw new ReportError(`${options.by} ${JSON.stringify(owner)} has no cost in ${options.month.label} (by ${options.by}, idle ${options.idle}, ${options.basis} basis); nothing was written`);
  }
  const groups = data.groups.filter((g) => (options.by === 'tenant' ? g.tenant_id : g.team) === owner);
  const traffic = data.traffic.filter((t) => t.owner === owner);
  // Under --idle owner the team carries the idle of the pools it owns; no other owner's pool is named.
  const ownedPools = options.idle === 'owner' ? Object.keys(options.poolOwners).filter((pool) => options.poolOwners[pool] === owner) : [];
  const poolOwners = Object.fromEntries(ownedPools.map((pool) => [pool, owner]));
  const pools = new Set(traffic.map((t) => poolKey(t.currency, t.pool_id)));
  for (const p of data.pools) if (ownedPools.includes(p.pool_id)) pools.add(poolKey(p.currency, p.pool_id));
  const isMine = (currency: string, pool: string): boolean => pool !== '' && pools.has(poolKey(currency, pool));

  const currencies = [...new Set(lines.map((l) => l.currency))];
  const totals = report.totals.filter((t) => currencies.includes(t.currency));
  const modelVersions = modelVersionsOf(groups);
  return {
    ...report,
    options: { ...options, poolOwners },
    owner: { name: owner, idleStatement: idleStatement(options.idle, options.by, owner), currencies: totals.map((t): OwnerCurrency => {
      const mine = lines.filter((l) => l.currency === t.currency);
      const used = mine.reduce((a, l) => a + l.used_cost, 0n);
      const idle = mine.reduce((a, l) => a + l.idle_cost, 0n);
      return {
        currency: t.currency, requests: mine.reduce((a, l) => a + l.requests, 0n), used, idle, cost: used + idle,
        billed: t.billed, share: share(used + idle, t.billed), idleNotCharged: t.idle,
      };
    }) },
    lines,
    idleFallbacks: report.idleFallbacks.filter((f) => isMine(f.currency, f.pool_id)),
    totals,
    data: {
      ...data, groups, traffic, modelVersions, dailyModels: [...daily],
      pools: data.pools.filter((p) => isMine(p.currency, p.pool_id)),
    },
    poolSavings: report.poolSavings.filter((p) => isMine(p.currency, p.pool_id)),
    versions: compareVersions({ modelVersions }),
  };
}

/** What the idle policy charged the owner and what it did not (amounts are in the pack's figures). */
function idleStatement(policy: IdlePolicy, by: string, owner: string): string {
  const who = `${by} ${owner}`;
  switch (policy) {
    case 'spread':
      return `idle spread: the cost of ${who}'s lines includes its share of the idle capacity of the pools it ran on (idle_cost): the idle of hours with traffic as attribution spread it, and the hours without any traffic split by its cost in the pool. ` +
        `Idle of pools with no traffic all month is the (idle) line of the month, which is not charged to ${who}`;
    case 'separate':
      return `idle kept separate: ${who} is charged the cost of the GPU time it used only (idle_cost is 0 on its lines). ` +
        `All of the month's idle capacity is the (idle) line, kept apart from every owner and not charged to ${who}`;
    case 'owner':
      return `idle to the pool owner: ${who} carries the idle capacity of the pools it owns (lines with model_id (idle) and feature_id the pool) and the cost of the GPU time it used. ` +
        `Idle of pools without an owner is the (idle) line, not charged to ${who}; idle of pools other teams own is theirs`;
  }
}
