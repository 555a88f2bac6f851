/**
 * summary.json: the pack's totals, method, provenance and reconciliation, in
 * exact decimal text. An owner pack's (report.owner) adds `owner`: its cost
 * per currency as a share of the bill, what the idle policy charged it and
 * did not, and the full pack's tie-out; its `owners` holds that owner only.
 * `rate_cards`, only in a month a card priced, names the card versions behind
 * the month's card-priced hours.
 */
import { describeCard } from '../pricing/rate-card.js';
import { fixed } from '../util/decimal.js';
import { share, type ChargebackReport, type CurrencyTotals, type OwnerScope } from './chargeback.js';
import { IDLE_OWNER, UNALLOCATED_OWNER } from './idle-policy.js';

export const ROUNDING = 'money: exact, 12 decimal places; cpp and cost_per_1k_tokens: 12 decimal places, rounded half to even; gpu_hours: 6 decimal places, half to even; shares: 6 decimal places, half to even';

export function summaryJson(report: ChargebackReport): Record<string, unknown> {
  const { options } = report;
  const cards = rateCardsUsed(report);
  const owners = new Map<string, { owner: string; currency: string; requests: bigint; used: bigint; idle: bigint }>();
  for (const l of report.lines) {
    const k = JSON.stringify([l.currency, l.owner]);
    const o = owners.get(k) ?? { owner: l.owner, currency: l.currency, requests: 0n, used: 0n, idle: 0n };
    o.requests += l.requests;
    o.used += l.used_cost;
    o.idle += l.idle_cost;
    owners.set(k, o);
  }
  return {
    month: options.month.label,
    by: options.by,
    idle_policy: options.idle,
    cost_basis: options.basis,
    status: report.status,
    status_reasons: report.statusReasons,
    generated_at: report.generatedAt,
    rounding: ROUNDING,
    special_owners: {
      [IDLE_OWNER]: 'capacity paid for and not used that the idle policy gives to no owner',
      [UNALLOCATED_OWNER]: 'billed cost without the pool tag',
    },
    reconciliation: report.totals.map((t) => ({
      currency: t.currency,
      billed: fixed(t.billed),
      allocated: fixed(t.allocated),
      idle: fixed(t.idle),
      unallocated: fixed(t.unallocated),
      ties_out: t.allocated + t.idle + t.unallocated === t.billed,
      used: fixed(t.used),
      idle_capacity: fixed(t.idleCapacity),
      correction: fixed(t.correction),
      estimated: fixed(t.estimated),
      estimated_share: fixed(share(t.estimated, t.billed), 6),
      requests: String(t.requests),
    })),
    owners: [...owners.values()].map((o) => ({
      owner: o.owner, currency: o.currency, requests: String(o.requests),
      used_cost: fixed(o.used), idle_cost: fixed(o.idle), cost: fixed(o.used + o.idle),
    })),
    pools: report.data.pools.map((p) => ({
      pool_id: p.pool_id, currency: p.currency, billed: fixed(p.billed), used: fixed(p.used), idle: fixed(p.idle),
      unallocated: fixed(p.unallocated), weight_bases: p.weight_bases, hours: p.hours, hours_without_traffic: p.hours_without_traffic,
      estimated: p.estimated,
    })),
    idle_fallbacks: report.idleFallbacks,
    ...(report.owner === undefined ? {} : { owner: ownerSummary(report.owner, report.totals) }),
    billing_versions: report.data.billingVersions,
    coverage: report.data.coverage,
    // Only when a card priced the month: a month without cards keeps the summary it always had.
    ...(cards.length === 0 ? {} : {
      rate_cards: cards.map((c) => ({
        pool: c.pool, change_id: c.changeId, card: c.card, changed_at: c.changedAt, changed_by: c.changedBy, reason: c.reason,
        hours: c.hours, cost: fixed(c.cost), currency: c.currency,
      })),
    }),
  };
}

/** A rate-card version as a pack names it, with the cost of its counted hours on the report's basis. */
export interface RateCardUsed {
  pool: string;
  changeId: string;
  /** The card in words (describeCard). */
  card: string;
  changedAt: string;
  changedBy: string;
  reason: string;
  /** The month's hours of the pool it holds that count (no cloud bill covers them). */
  hours: number;
  cost: bigint;
  currency: string;
}

/**
 * The rate-card versions behind the month's card-priced hours, of the pools
 * the report shows only: an owner pack's pools are its owner's, so it names
 * no other pool's card.
 */
export function rateCardsUsed(report: ChargebackReport): RateCardUsed[] {
  const shown = new Set(report.data.pools.map((p) => JSON.stringify([p.currency, p.pool_id])));
  return report.data.rateCards.filter((r) => shown.has(JSON.stringify([r.currency, r.pool_id]))).map((r) => ({
    pool: r.pool_id,
    changeId: r.change_id,
    card: describeCard({
      priceUnit: r.price_unit, price: r.price, currency: r.currency, gpus: r.gpus, instances: r.instances, gpusPerInstance: r.gpus_per_instance,
      migProfile: r.mig_profile, migSlices: r.mig_slices, gpuType: r.gpu_type, timeSliced: r.time_sliced, capacity: r.capacity_gpus,
    }),
    changedAt: r.changed_at,
    changedBy: r.changed_by,
    reason: r.reason,
    hours: r.hours,
    cost: report.options.basis === 'billed' ? r.billed : r.effective,
    currency: r.currency,
  }));
}

function ownerSummary(owner: OwnerScope, totals: readonly CurrencyTotals[]): Record<string, unknown> {
  return {
    name: owner.name,
    idle: owner.idleStatement,
    currencies: owner.currencies.map((c) => {
      const t = totals.find((x) => x.currency === c.currency);
      return {
        currency: c.currency, requests: String(c.requests), used_cost: fixed(c.used), idle_cost: fixed(c.idle), cost: fixed(c.cost),
        billed: fixed(c.billed), share_of_billed: fixed(c.share, 6), idle_not_charged: fixed(c.idleNotCharged),
        full_pack_ties_out: t !== undefined && t.allocated + t.idle + t.unallocated === t.billed,
      };
    }),
  };
}
