/**
 * focus-allocated.csv: the month's cost as FOCUS 1.3 rows with the
 * allocation columns (AllocatedMethodId, AllocatedMethodDetails,
 * AllocatedResourceId, AllocatedResourceName, AllocatedTags), so any FOCUS
 * tool reads our split. Per pool and currency: one row per group for the GPU
 * time it used, one row for the pool's idle capacity, and untagged cost
 * unallocated (one row per service). They sum to the month's bill exactly,
 * whatever the idle policy (the policy's view is chargeback.csv).
 *
 * Every cost column FOCUS makes mandatory that the bill has (BilledCost,
 * EffectiveCost, ListCost) is filled, whichever basis the month was
 * attributed on: the attributed column is attribution's split as it is
 * (cost_allocation, pool_cost), the others are the same pool-hours' bill on
 * that column split by the same weights (month-used-costs.sql), so on every
 * column the rows of a pool sum to its bill to the last unit. Our own
 * columns are x_-prefixed.
 */
import { formatDateTime } from '../util/time.js';
import type { ChargebackReport } from './chargeback.js';
import { gpuHours } from './csv-files.js';
import { csvText } from './csv-text.js';
import { divideHalfEven, fixed } from '../util/decimal.js';

export const FOCUS_COLUMNS = [
  'BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart', 'ChargePeriodEnd', 'BillingCurrency', 'BilledCost', 'EffectiveCost', 'ListCost',
  'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ResourceId', 'ResourceType', 'ServiceName',
  'AllocatedMethodId', 'AllocatedMethodDetails', 'AllocatedResourceId', 'AllocatedResourceName', 'AllocatedTags',
  'x_CostBasis', 'x_IdlePolicy', 'x_Requests', 'x_InputTokens', 'x_OutputTokens', 'x_GpuHours', 'x_ModelVersion', 'x_Status',
] as const;
const FOCUS_NUMERIC = ['BilledCost', 'EffectiveCost', 'ListCost', 'x_Requests', 'x_InputTokens', 'x_OutputTokens', 'x_GpuHours'];

export const METHOD_USED = 'inferledger-gpu-time-used';
export const METHOD_IDLE = 'inferledger-idle-capacity';

/** The FOCUS cost columns of a row, in units of 1e-12. */
interface Costs { billed: bigint; effective: bigint; list: bigint }

const ZERO: Costs = { billed: 0n, effective: 0n, list: 0n };
const NUMBER = /^-?\d+(\.\d+)?$/;

const iso = (ms: number): string => `${formatDateTime(ms).replace(' ', 'T')}Z`;
const key = (...parts: string[]): string => JSON.stringify(parts);
const plus = (a: Costs, b: Costs): Costs => ({ billed: a.billed + b.billed, effective: a.effective + b.effective, list: a.list + b.list });
const minus = (a: Costs, b: Costs): Costs => ({ billed: a.billed - b.billed, effective: a.effective - b.effective, list: a.list - b.list });
const costCells = (c: Costs): string[] => [fixed(c.billed), fixed(c.effective), fixed(c.list)];
/** A decimal as a JSON number, without trailing zeros ("0.250000000000" -> 0.25). */
const jsonNumber = (text: string): string => {
  if (!NUMBER.test(text)) throw new Error(`not a decimal: ${JSON.stringify(text)}`);
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
};
/** AllocatedMethodDetails: FOCUS's object, AllocatedRatio and UsageQuantity as JSON numbers. */
const methodDetails = (ratio: string, gpuMs: string): string =>
  `{"Elements":[{"AllocatedRatio":${jsonNumber(ratio)},"UsageQuantity":${jsonNumber(gpuMs)},"UsageUnit":"GPU-ms"}]}`;

export function focusAllocatedCsv(report: ChargebackReport): string {
  const { month, basis, idle, poolOwners } = report.options;
  const { groups, pools, costColumns } = report.data;
  // The attributed column is attribution's own amount; the other columns come from costColumns.
  const onBasis = (c: Costs, amount: bigint): Costs => (basis === 'billed' ? { ...c, billed: amount } : { ...c, effective: amount });

  // The bill of every pool on each column, and what its groups used (every group of the pool, also in an owner's pack).
  const billOf = new Map<string, Costs>();
  const servicesOf = new Map<string, { service: string; costs: Costs }[]>();
  for (const b of costColumns.pools) {
    const costs = { billed: b.billed, effective: b.effective, list: b.list };
    if (b.pool_id === '') servicesOf.set(b.currency, [...(servicesOf.get(b.currency) ?? []), { service: b.service, costs }]);
    else billOf.set(key(b.currency, b.pool_id), plus(billOf.get(key(b.currency, b.pool_id)) ?? ZERO, costs));
  }
  const usedOf = new Map<string, Costs>();
  const usedInPool = new Map<string, Costs>();
  for (const u of costColumns.used) {
    const costs = { billed: u.billed, effective: u.effective, list: u.list };
    usedOf.set(key(u.currency, u.pool_id, u.team, u.tenant_id, u.model_id, u.model_version, u.feature_id), costs);
    usedInPool.set(key(u.currency, u.pool_id), plus(usedInPool.get(key(u.currency, u.pool_id)) ?? ZERO, costs));
  }
  // The other columns must come from the very pool-hours the attributed one did.
  for (const p of pools) {
    const onFile = p.pool_id === ''
      ? (servicesOf.get(p.currency) ?? []).reduce((a, s) => plus(a, s.costs), ZERO)
      : billOf.get(key(p.currency, p.pool_id)) ?? ZERO;
    if (onFile[basis] !== p.billed) {
      throw new Error(
        `focus-allocated.csv: the bill of pool ${JSON.stringify(p.pool_id)} (${p.currency}) on the ${basis} basis is ${fixed(onFile[basis])} ` +
          `for the pool-hours attributed, pool_cost holds ${fixed(p.billed)}: attribute the month again`,
      );
    }
  }

  const billedOf = new Map(pools.map((p) => [key(p.currency, p.pool_id), p.billed]));
  /** Share of the pool's bill on the attributed basis, 12 decimals (a credit month divides by its magnitude). */
  const ratio = (part: bigint, pool: string, currency: string): string => {
    const billed = billedOf.get(key(currency, pool)) ?? 0n;
    if (billed === 0n) return '0';
    return fixed(billed < 0n ? divideHalfEven(-part * 1_000_000_000_000n, -billed) : divideHalfEven(part * 1_000_000_000_000n, billed));
  };
  const common = (currency: string, costs: Costs): string[] => [iso(month.start), iso(month.end), iso(month.start), iso(month.end), currency, ...costCells(costs)];
  const out: string[][] = [];
  for (const r of groups) {
    const used = usedOf.get(key(r.currency, r.pool_id, r.team, r.tenant_id, r.model_id, r.model_version, r.feature_id));
    if (used === undefined) throw new Error(`focus-allocated.csv: no split on every cost column for ${r.pool_id} (${r.currency}) ${r.model_id} ${r.feature_id}`);
    const allocated = `${r.pool_id}/${r.model_id}/${r.model_version}/${r.feature_id}/${r.tenant_id}`;
    out.push([
      // ChargeClass null: no row is a correction of a closed billing period.
      ...common(r.currency, onBasis(used, r.used_cost)), 'Usage', '', 'GPU time used by inference requests', r.pool_id, 'GPU pool', 'Inference',
      METHOD_USED, methodDetails(ratio(r.used_cost, r.pool_id, r.currency), fixed(r.gpu_ms, 3)), allocated, allocated,
      JSON.stringify({ team: r.team, tenant: r.tenant_id, model: r.model_id, feature: r.feature_id }),
      basis, idle, String(r.requests), String(r.input_tokens), String(r.output_tokens), gpuHours(r.gpu_ms), r.model_version, r.estimated ? 'estimated' : 'final',
    ]);
  }
  for (const p of pools) {
    const status = p.estimated ? 'estimated' : 'final';
    if (p.pool_id === '') {
      // Untagged cost is no split's (the Allocated* columns null), per service so that ServiceName is the bill's.
      for (const s of servicesOf.get(p.currency) ?? []) {
        out.push([...common(p.currency, s.costs), 'Usage', '', 'Billed cost without the pool tag (unallocated)', '', '', s.service, '', '', '', '', '', basis, idle, '0', '0', '0', '', '', status]);
      }
      continue;
    }
    const poolKey = key(p.currency, p.pool_id);
    const idleCosts = onBasis(minus(billOf.get(poolKey) ?? ZERO, usedInPool.get(poolKey) ?? ZERO), p.idle);
    if (idleCosts.billed === 0n && idleCosts.effective === 0n && idleCosts.list === 0n) continue;
    // Idle is the unallocated portion of the pool's cost (AllocatedResourceId null), unless --idle owner gives it to the pool's team.
    const owner = idle === 'owner' ? poolOwners[p.pool_id] : undefined;
    const allocated = owner === undefined ? '' : `${p.pool_id}/(idle)`;
    out.push([
      ...common(p.currency, idleCosts), 'Usage', '', 'GPU capacity paid for and not used (idle)', p.pool_id, 'GPU pool', 'Inference',
      METHOD_IDLE,
      methodDetails(ratio(p.idle, p.pool_id, p.currency), p.capacity_gpu_ms === null || p.capacity_gpu_ms <= p.used_gpu_ms ? '0' : fixed(p.capacity_gpu_ms - p.used_gpu_ms, 3)),
      allocated, allocated,
      JSON.stringify(owner === undefined ? {} : { team: owner }),
      basis, idle, '0', '0', '0', '', '', status,
    ]);
  }
  return csvText(FOCUS_COLUMNS, out, { numeric: FOCUS_NUMERIC });
}
