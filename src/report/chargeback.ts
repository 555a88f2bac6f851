/**
 * Builds a month's chargeback report: reads the month (month-data.ts),
 * checks the attributed tables against the bill, applies the idle policy
 * (idle-policy.ts) and derives the totals, status and savings every output
 * of the pack (CSV, summary, FOCUS, HTML) is written from.
 */
import { z } from 'zod';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { reservedOwner } from '../util/reserved-owners.js';
import { formatDateTime, type Month } from '../util/time.js';
import { divideHalfEven, fixed, units } from '../util/decimal.js';
import { applyIdlePolicy, IDLE_OWNER, UNALLOCATED_OWNER, type ChargebackLine, type IdlePolicy, type PolicyResult } from './idle-policy.js';
import { readMonth, type MonthData, type PoolRow, type ReportBy } from './month-data.js';

export type CostBasis = 'effective' | 'billed';
export type ReportStatus = 'estimated' | 'final';

/** Something the user can fix (no data, attribution out of date): a plain message, no stack. */
export class ReportError extends Error {
  override name = 'ReportError';
}

export interface ChargebackOptions {
  month: Month;
  by: ReportBy;
  idle: IdlePolicy;
  basis: CostBasis;
  /** Pool id -> owning team (config attribution.pools.<id>.owner). */
  poolOwners: Readonly<Record<string, string>>;
  /** Clock, for "is the month over" (tests). */
  now?: number;
}

export interface CurrencyTotals {
  currency: string;
  billed: bigint;
  /** Cost on owner lines (idle included as the policy gives it). */
  allocated: bigint;
  /** The `(idle)` lines. */
  idle: bigint;
  /** The `(unallocated)` line. */
  unallocated: bigint;
  /** Cost of the GPU time used, and of the capacity paid for and not used, whatever the policy. */
  used: bigint;
  idleCapacity: bigint;
  correction: bigint;
  estimated: bigint;
  requests: bigint;
}

export interface PoolSaving {
  pool_id: string;
  currency: string;
  billed: bigint;
  idle: bigint;
  /** used / capacity, 6 decimals (units of 1e-6); undefined when capacity is unknown. */
  utilization: bigint | undefined;
  paidGpus: string | undefined;
  peakGpus: bigint | undefined;
  /** Saving had the pool run the GPUs its busiest hour needed, all month. */
  rightSizingSaving: bigint;
  low: boolean;
}

export interface VersionComparison {
  model_id: string;
  currency: string;
  model_version: string;
  reference_version: string;
  requests: bigint;
  cpp: bigint;
  reference_cpp: bigint;
  /** GPU-ms per request, units of 1e-3. */
  gpuMsPerRequest: bigint;
  referenceGpuMsPerRequest: bigint;
  /** cost - reference CPP x requests: > 0 a regression's cost, < 0 a saving. */
  costDifference: bigint;
}

/** Why a month is estimated besides its estimated billing (each currency's share of that is in its totals); neither holds for a final month. */
export interface EstimatedBecause {
  /** The month is not over yet. */
  monthOpen: boolean;
  /** Requests in hours the bill does not cover yet: they wait for their bill. */
  pendingRequests: number;
}

/** An owner pack's view of one currency: the owner's cost against the month's bill. */
export interface OwnerCurrency {
  currency: string;
  requests: bigint;
  /** On the owner's lines: cost of the GPU time used, idle the policy gives it, their sum. */
  used: bigint;
  idle: bigint;
  cost: bigint;
  /** The month's billed total in the currency (the full pack's). */
  billed: bigint;
  /** cost / billed in units of 1e-6, half even. */
  share: bigint;
  /** The full pack's `(idle)` line: idle no owner carries under the policy, not charged to this owner. */
  idleNotCharged: bigint;
}

/** Set on a report restricted to one owner (owner-scope.ts): whose pack it is, and its share of the bill. */
export interface OwnerScope {
  name: string;
  /** What the idle policy charged this owner, and what it did not, in words. */
  idleStatement: string;
  currencies: OwnerCurrency[];
}

export interface ChargebackReport {
  options: ChargebackOptions;
  /** Only on an owner pack's report: lines, totals and data are that owner's (totals stay the bill's). */
  owner?: OwnerScope;
  status: ReportStatus;
  statusReasons: string[];
  /** The same reasons as facts, for what shows them in short (the HTML badges). */
  estimatedBecause: EstimatedBecause;
  lines: ChargebackLine[];
  idleFallbacks: PolicyResult['idleFallbacks'];
  totals: CurrencyTotals[];
  data: MonthData;
  poolSavings: PoolSaving[];
  versions: VersionComparison[];
  generatedAt: string;
}

/** Utilisation under which a pool is listed as low in the savings section. */
export const LOW_UTILIZATION = 500_000n; // 50 %, in units of 1e-6
const GPU_HOUR_MS = 3_600_000_000n; // one GPU-hour in units of 1e-3 ms

const billTotalRow = z.object({ currency: z.string(), effective: z.string().transform(units), billed: z.string().transform(units) });

export async function buildChargeback(warehouse: Warehouse, options: ChargebackOptions): Promise<ChargebackReport> {
  const { month, by, idle, basis } = options;
  if (idle === 'owner' && by === 'tenant') {
    throw new ReportError('--idle owner gives a pool\'s idle cost to the team that owns the pool, which is not a tenant: use --idle spread or separate with --by tenant');
  }
  const data = await readMonth(warehouse, month, by);
  if (data.pools.length === 0) {
    throw new ReportError(
      `no attributed billing for ${month.label} in database ${warehouse.database}: ingest the month's bill, then run ` +
        `\`inferledger attribute --from ${formatDateTime(month.start).slice(0, 10)} --to ${formatDateTime(month.end).slice(0, 10)}\`; nothing was written`,
    );
  }
  checkOwnerNames(data);
  await checkAgainstBill(warehouse, data, basis);
  const policy = applyIdlePolicy(data, idle, options.poolOwners);
  const totals = currencyTotals(data, policy.lines);
  const { status, reasons, because } = monthStatus(data, totals, options.now ?? Date.now());
  return {
    options, status, statusReasons: reasons, estimatedBecause: because, lines: policy.lines, idleFallbacks: policy.idleFallbacks, totals, data,
    poolSavings: data.pools.filter((p) => p.pool_id !== '').map(poolSaving).sort((a, b) => (b.idle > a.idle ? 1 : b.idle < a.idle ? -1 : 0)),
    versions: compareVersions(data),
    generatedAt: new Date(options.now ?? Date.now()).toISOString(),
  };
}

/**
 * No owner may pass for the `(idle)` or `(unallocated)` line: its cost would
 * be merged into that line or read as it. Events refuse such names; requests
 * stored before they did still hold them, so the report stops and says how
 * to rename them.
 */
function checkOwnerNames(data: MonthData): void {
  const field = data.by === 'tenant' ? 'tenant_id' : 'team';
  const found = new Map<string, bigint>();
  for (const g of data.groups) {
    const name = data.by === 'tenant' ? g.tenant_id : g.team;
    if (reservedOwner(name) !== undefined) found.set(name, (found.get(name) ?? 0n) + g.requests);
  }
  if (found.size === 0) return;
  const names = [...found].map(([name, requests]) => `${field} ${JSON.stringify(name)} (${requests} request${requests === 1n ? '' : 's'} in ${data.month.label})`);
  throw new ReportError(
    `${names.join(', ')} ${found.size === 1 ? 'is a reserved owner name' : 'are reserved owner names'}: "${IDLE_OWNER}" and "${UNALLOCATED_OWNER}", in any case or spacing, ` +
      `name the idle and untagged lines of the report. Rename ${found.size === 1 ? 'it' : 'them'} in the stored requests ` +
      `(\`inferledger sql --write "ALTER TABLE inference_requests UPDATE ${field} = {to:String} WHERE ${field} = {from:String} SETTINGS mutations_sync = 2" --param from=<name> --param to=<new name>\`), ` +
      `then \`inferledger attribute --from ${formatDateTime(data.month.start).slice(0, 10)} --to ${formatDateTime(data.month.end).slice(0, 10)}\`; nothing was written`,
  );
}

/**
 * pool_cost must hold the month's bill on the asked basis, to the unit:
 * otherwise the month was attributed on the other basis, or days of it
 * before the bill last changed, and a pack would not tie out to the bill.
 */
async function checkAgainstBill(warehouse: Warehouse, data: MonthData, basis: CostBasis): Promise<void> {
  const bill = await warehouse.query(sqlFile('report/month-bill-total'), { month_start: formatDateTime(data.month.start), month_end: formatDateTime(data.month.end) }, billTotalRow);
  const attributed = new Map<string, bigint>();
  for (const p of data.pools) attributed.set(p.currency, (attributed.get(p.currency) ?? 0n) + p.billed);
  const problems: string[] = [];
  for (const currency of new Set([...attributed.keys(), ...bill.map((b) => b.currency)])) {
    const b = bill.find((x) => x.currency === currency);
    const want = b ? b[basis] : 0n;
    const have = attributed.get(currency) ?? 0n;
    if (want === have) continue;
    const other: CostBasis = basis === 'effective' ? 'billed' : 'effective';
    const hint = b && b[other] === have && b[other] !== want ? ` (it matches the ${other} basis: the month was attributed with --cost-basis ${other})` : '';
    problems.push(`${currency}: attributed ${fixed(have)}, the bill on the ${basis} basis ${fixed(want)}${hint}`);
  }
  if (problems.length > 0) {
    const from = formatDateTime(data.month.start).slice(0, 10);
    const to = formatDateTime(data.month.end).slice(0, 10);
    throw new ReportError(
      `the attributed cost of ${data.month.label} does not match its bill: ${problems.join('; ')}. ` +
        `Run \`inferledger attribute --from ${from} --to ${to} --cost-basis ${basis}\`, then build the report again; nothing was written`,
    );
  }
}

function currencyTotals(data: MonthData, lines: readonly ChargebackLine[]): CurrencyTotals[] {
  const totals = new Map<string, CurrencyTotals>();
  const of = (currency: string): CurrencyTotals => {
    let t = totals.get(currency);
    if (!t) {
      t = { currency, billed: 0n, allocated: 0n, idle: 0n, unallocated: 0n, used: 0n, idleCapacity: 0n, correction: 0n, estimated: 0n, requests: 0n };
      totals.set(currency, t);
    }
    return t;
  };
  for (const p of data.pools) {
    const t = of(p.currency);
    t.billed += p.billed;
    t.used += p.used;
    t.idleCapacity += p.idle;
    t.correction += p.correction;
    t.estimated += p.estimated_cost;
    t.requests += p.requests;
  }
  for (const l of lines) {
    const t = of(l.currency);
    const cost = l.used_cost + l.idle_cost;
    if (l.owner === IDLE_OWNER) t.idle += cost;
    else if (l.owner === UNALLOCATED_OWNER) t.unallocated += cost;
    else t.allocated += cost;
  }
  return [...totals.values()].sort((a, b) => (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0));
}

/** Share of `part` in `whole` in units of 1e-6 (half even); 0 when whole is 0. */
export function share(part: bigint, whole: bigint): bigint {
  if (whole === 0n) return 0n;
  const w = whole < 0n ? -whole : whole;
  return divideHalfEven((whole < 0n ? -part : part) * 1_000_000n, w);
}

/**
 * Final: the month is over, none of its billing is an estimate and no
 * request still waits for its bill. Otherwise estimated, with every reason.
 */
function monthStatus(data: MonthData, totals: readonly CurrencyTotals[], now: number): { status: ReportStatus; reasons: string[]; because: EstimatedBecause } {
  const reasons: string[] = [];
  const because: EstimatedBecause = {
    monthOpen: now < data.month.end,
    pendingRequests: data.coverage.pending_requests,
  };
  if (because.monthOpen) reasons.push(`${data.month.label} is not over yet`);
  for (const t of totals) {
    if (t.estimated !== 0n) reasons.push(`${fixed(share(t.estimated, t.billed), 6).replace(/0+$/, '').replace(/\.$/, '')} of the ${t.currency} bill (${fixed(t.estimated)}) is still estimated by the provider`);
  }
  if (because.pendingRequests > 0) reasons.push(`${because.pendingRequests} requests are in hours the bill does not cover yet`);
  return { status: reasons.length === 0 ? 'final' : 'estimated', reasons, because };
}

function poolSaving(p: PoolRow): PoolSaving {
  const base = { pool_id: p.pool_id, currency: p.currency, billed: p.billed, idle: p.idle };
  const capacity = p.capacity_gpu_ms;
  if (capacity === null || capacity <= 0n || p.hours === 0) {
    return { ...base, utilization: undefined, paidGpus: undefined, peakGpus: undefined, rightSizingSaving: 0n, low: false };
  }
  const utilization = divideHalfEven(p.used_gpu_ms * 1_000_000n, capacity);
  const hours = BigInt(p.hours);
  // GPUs the busiest hour needed (at least one), run every billed hour of the month.
  const peakGpus = p.peak_used_gpu_ms <= 0n ? 1n : (p.peak_used_gpu_ms + GPU_HOUR_MS - 1n) / GPU_HOUR_MS;
  const rightSized = peakGpus * hours * GPU_HOUR_MS;
  const saving = rightSized >= capacity || p.billed <= 0n ? 0n : divideHalfEven(p.billed * (capacity - rightSized), capacity);
  return {
    ...base, utilization, peakGpus, rightSizingSaving: saving, low: utilization < LOW_UTILIZATION,
    paidGpus: fixed(divideHalfEven(capacity * 100n, hours * GPU_HOUR_MS), 2),
  };
}

/** Versions of each model against its most used version: CPP, GPU-ms per request and what the difference cost. */
export function compareVersions(data: Pick<MonthData, 'modelVersions'>): VersionComparison[] {
  const out: VersionComparison[] = [];
  const groups = new Map<string, MonthData['modelVersions']>();
  for (const v of data.modelVersions) {
    if (v.requests === 0n) continue;
    const k = JSON.stringify([v.currency, v.model_id]);
    groups.set(k, [...(groups.get(k) ?? []), v]);
  }
  for (const versions of groups.values()) {
    if (versions.length < 2) continue;
    const ref = versions.reduce((a, b) => (b.requests > a.requests ? b : a));
    for (const v of versions) {
      if (v === ref) continue;
      out.push({
        model_id: v.model_id, currency: v.currency, model_version: v.model_version, reference_version: ref.model_version,
        requests: v.requests,
        cpp: divideHalfEven(v.cost, v.requests),
        reference_cpp: divideHalfEven(ref.cost, ref.requests),
        gpuMsPerRequest: divideHalfEven(v.gpu_ms, v.requests),
        referenceGpuMsPerRequest: divideHalfEven(ref.gpu_ms, ref.requests),
        costDifference: v.cost - divideHalfEven(ref.cost * v.requests, ref.requests),
      });
    }
  }
  return out;
}
