/**
 * report.html: one self-contained page for people (inline CSS, charts as
 * inline SVG, no script, no external resource). Built by the eta template
 * engine with escaping on by default: every name is text, `<%~` (raw) is
 * used only for the SVG ECharts rendered (which escapes its own text). An
 * owner pack's page is rendered from its restricted report (owner-scope.ts),
 * so its tables and charts hold that owner's figures only.
 */
import { Eta } from 'eta';
import { cents, divideHalfEven, fixed } from '../util/decimal.js';
import { share, type ChargebackReport, type CurrencyTotals } from './chargeback.js';
import { dailyLines, stackedBars, type Chart } from './charts.js';
import { IDLE_OWNER, UNALLOCATED_OWNER, type ChargebackLine } from './idle-policy.js';
import { REPORT_TEMPLATE } from './report-template.js';
import { rateCardsUsed } from './summary.js';
import { DAY_MS, formatDate } from '../util/time.js';

const eta = new Eta({ autoEscape: true, autoTrim: false, useWith: false, varName: 'it' });

const TOP_OWNERS = 25;
const TOP_CHART = 15;
const TOP_MODELS = 5;

const POLICY_TEXT = {
  spread: 'spread: idle capacity is spread over the traffic of its pool (fully loaded cost); a pool with no traffic in the month stays on the (idle) line',
  separate: 'separate: owners carry the cost of the GPU time they used; all idle capacity is the (idle) line',
  owner: 'owner: owners carry the cost of the GPU time they used; each pool\'s idle capacity goes to the team that owns the pool, pools without an owner to the (idle) line',
} as const;

interface Row { name: string; requests: string; used: string; idle: string; cost: string; exact: string; cpp: string }

const toNumber = (units: bigint): number => Number(fixed(units));
/** A share in units of 1e-6 as a percentage with two decimals (296000 -> "29.60 %"). */
export const pct = (millionths: bigint): string => `${fixed(divideHalfEven(millionths, 100n), 2)} %`;

function totalsBy(lines: readonly ChargebackLine[], pick: (l: ChargebackLine) => string): { name: string; requests: bigint; used: bigint; idle: bigint }[] {
  const map = new Map<string, { name: string; requests: bigint; used: bigint; idle: bigint }>();
  for (const l of lines) {
    const name = pick(l);
    const t = map.get(name) ?? { name, requests: 0n, used: 0n, idle: 0n };
    t.requests += l.requests;
    t.used += l.used_cost;
    t.idle += l.idle_cost;
    map.set(name, t);
  }
  return [...map.values()].sort((a, b) => {
    const d = b.used + b.idle - (a.used + a.idle);
    return d > 0n ? 1 : d < 0n ? -1 : a.name < b.name ? -1 : 1;
  });
}

function rows(totals: ReturnType<typeof totalsBy>): Row[] {
  return totals.map((t) => ({
    name: t.name, requests: t.requests.toLocaleString('en-US'), used: cents(t.used), idle: cents(t.idle), cost: cents(t.used + t.idle),
    exact: fixed(t.used + t.idle), cpp: t.requests === 0n ? '' : fixed(divideHalfEven(t.used + t.idle, t.requests)).replace(/0+$/, ''),
  }));
}

function barChart(totals: ReturnType<typeof totalsBy>, currency: string): Chart {
  const top = totals.slice(0, TOP_CHART);
  return stackedBars(top.map((t) => t.name), [
    { name: 'used', values: top.map((t) => toNumber(t.used)) },
    { name: 'idle', values: top.map((t) => toNumber(t.idle)) },
  ], currency);
}

function currencyView(report: ChargebackReport, t: CurrencyTotals) {
  const lines = report.lines.filter((l) => l.currency === t.currency);
  const ownerLines = lines.filter((l) => l.owner !== IDLE_OWNER && l.owner !== UNALLOCATED_OWNER);
  const traffic = ownerLines.filter((l) => l.model_id !== IDLE_OWNER);
  const owners = totalsBy(lines, (l) => l.owner);
  const models = totalsBy(traffic, (l) => l.model_id);
  const features = totalsBy(traffic, (l) => l.feature_id);

  const daily = report.data.dailyModels.filter((d) => d.currency === t.currency);
  const days: string[] = [];
  for (let ms = report.options.month.start; ms < report.options.month.end; ms += DAY_MS) days.push(new Date(ms).toISOString().slice(0, 10));
  const biggest = models.slice(0, TOP_MODELS).map((m) => m.name);
  const cppSeries = biggest.map((model) => ({
    name: model,
    values: days.map((day) => {
      const d = daily.find((x) => x.model_id === model && x.day === day);
      return d && d.requests > 0n ? Number(fixed(divideHalfEven(d.cost, d.requests))) : null;
    }),
  }));

  const pools = report.poolSavings.filter((p) => p.currency === t.currency);
  const unknownUtilization = pools.filter((p) => p.utilization === undefined).map((p) => p.pool_id);
  const poolChart = stackedBars(pools.map((p) => p.pool_id), [
    { name: 'used', values: pools.map((p) => toNumber(p.billed - p.idle)) },
    { name: 'idle', values: pools.map((p) => toNumber(p.idle)) },
  ], t.currency);
  const poolWeights = new Map(report.data.pools.filter((p) => p.currency === t.currency).map((p) => [p.pool_id, p.weight_bases.join(', ') || 'no traffic']));

  return {
    currency: t.currency,
    ownerShare: ownerShare(report, t),
    estimatedShare: estimatedShare(t),
    badge: badge(report, t),
    reconciliation: {
      billed: cents(t.billed), allocated: cents(t.allocated), idle: cents(t.idle), unallocated: cents(t.unallocated),
      billedExact: fixed(t.billed), allocatedExact: fixed(t.allocated), idleExact: fixed(t.idle), unallocatedExact: fixed(t.unallocated),
      tiesOut: t.allocated + t.idle + t.unallocated === t.billed,
      used: cents(t.used), idleCapacity: cents(t.idleCapacity), correction: cents(t.correction), estimated: cents(t.estimated),
    },
    owners: rows(owners.slice(0, TOP_OWNERS)), ownerCount: owners.length, ownerChart: barChart(owners, t.currency),
    models: rows(models.slice(0, 10)), modelChart: barChart(models, t.currency),
    features: rows(features.slice(0, 10)), featureChart: barChart(features, t.currency),
    cppChart: cppSeries.length > 0 ? dailyLines(days, cppSeries, `${t.currency} per request`) : undefined,
    pools: pools.map((p) => ({
      pool: p.pool_id, billed: cents(p.billed), idle: cents(p.idle), weights: poolWeights.get(p.pool_id) ?? '',
      utilization: p.utilization === undefined ? 'unknown' : pct(p.utilization), low: p.low,
      paidGpus: p.paidGpus ?? 'unknown', peakGpus: p.peakGpus === undefined ? 'unknown' : String(p.peakGpus),
      saving: cents(p.rightSizingSaving), hasSaving: p.rightSizingSaving > 0n,
    })),
    poolChart,
    savings: {
      /** Pools whose GPU capacity, so utilisation, is unknown: whether they are low cannot be told. */
      unknown: unknownUtilization,
      known: pools.filter((p) => p.utilization !== undefined).map((p) => p.pool_id),
      /** How to make their utilisation known. */
      fix: unknownUtilization.length === 0 ? '' : capacityFix(report, unknownUtilization),
    },
    versions: report.versions.filter((v) => v.currency === t.currency).map((v) => ({
      model: v.model_id, version: v.model_version, reference: v.reference_version, requests: v.requests.toLocaleString('en-US'),
      cpp: fixed(v.cpp).replace(/0+$/, ''), referenceCpp: fixed(v.reference_cpp).replace(/0+$/, ''),
      gpuMs: fixed(v.gpuMsPerRequest, 3), referenceGpuMs: fixed(v.referenceGpuMsPerRequest, 3),
      difference: cents(v.costDifference < 0n ? -v.costDifference : v.costDifference), regression: v.costDifference > 0n,
    })),
  };
}

/** An owner pack's cost in the currency against the bill, rounded to the cent with the exact figures beside. */
function ownerShare(report: ChargebackReport, t: CurrencyTotals) {
  const c = report.owner?.currencies.find((x) => x.currency === t.currency);
  if (c === undefined) return undefined;
  return {
    cost: cents(c.cost), costExact: fixed(c.cost), billed: cents(c.billed), billedExact: fixed(c.billed),
    share: pct(c.share), shareExact: fixed(c.share, 6), idle: cents(c.idle), idleExact: fixed(c.idle),
    idleNotCharged: cents(c.idleNotCharged), idleNotChargedExact: fixed(c.idleNotCharged),
  };
}

/** The share of the currency's cost still estimated by the provider; never "0.00 %" when some is. */
function estimatedShare(t: CurrencyTotals): string {
  const text = pct(share(t.estimated, t.billed));
  return t.estimated !== 0n && /^-?0\.00 %$/.test(text) ? 'under 0.01 %' : text;
}

/**
 * A section's badge: the status and the share of cost still estimated, then,
 * for an estimated month, each other reason it is estimated (and only those):
 * "estimated · 0.00 % of cost estimated · 240 requests await their bill".
 */
function badge(report: ChargebackReport, t: CurrencyTotals): string {
  const { monthOpen, pendingRequests } = report.estimatedBecause;
  const parts = [report.status, `${estimatedShare(t)} of cost estimated`];
  if (monthOpen) parts.push('month not over yet');
  if (pendingRequests > 0) parts.push(`${pendingRequests.toLocaleString('en-US')} ${pendingRequests === 1 ? 'request awaits its' : 'requests await their'} bill`);
  return parts.join(' · ');
}

/** What makes the utilisation of these pools known: their GPUs per instance, then the month attributed again. */
function capacityFix(report: ChargebackReport, pools: readonly string[]): string {
  const keys = pools.map((p) => `attribution.pools.${p}.gpusPerInstance`).join(', ');
  const { start, end } = report.options.month;
  const [its, it] = pools.length === 1 ? ['Its', 'it'] : ['Their', 'them'];
  return `${its} GPU capacity is unknown: the bill names no instance type the GPU catalog knows for ${it}, and the configuration gives no GPU count. ` +
    `To tell, set ${keys} (GPUs per billed instance) in the configuration, or bill with an instance type the GPU catalog knows, ` +
    `then attribute the month again (inferledger attribute --from ${formatDate(start)} --to ${formatDate(end)}).`;
}

export type ReportView = ReturnType<typeof reportView>;

export function reportView(report: ChargebackReport) {
  const { options } = report;
  return {
    month: options.month.label, by: options.by, idle: options.idle, basis: options.basis,
    status: report.status, statusReasons: report.statusReasons, generatedAt: report.generatedAt,
    policyText: POLICY_TEXT[options.idle],
    /** Set on an owner pack: every section shows that owner's lines only. */
    owner: report.owner === undefined ? undefined : { name: report.owner.name, idleStatement: report.owner.idleStatement },
    idleFallbacks: report.idleFallbacks,
    currencies: report.totals.map((t) => currencyView(report, t)),
    billingVersions: report.data.billingVersions,
    /** The rate-card versions behind the month's card-priced hours; empty (and the page as before) without cards. */
    rateCards: rateCardsUsed(report).map((c) => ({
      pool: c.pool, card: c.card, changedAt: `${c.changedAt.slice(0, 19)} UTC`, changedBy: c.changedBy, reason: c.reason,
      hours: c.hours.toLocaleString('en-US'), cost: cents(c.cost), costExact: fixed(c.cost), currency: c.currency,
    })),
  };
}

export function reportHtml(report: ChargebackReport): string {
  return eta.renderString(REPORT_TEMPLATE, reportView(report));
}
