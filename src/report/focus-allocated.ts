/**
 * focus-allocated.csv: the month's cost as FOCUS 1.3 rows with the
 * allocation columns (AllocatedMethodId, AllocatedMethodDetails,
 * AllocatedResourceId, AllocatedTags), so any FOCUS tool reads our split.
 * Per pool and currency: one row per group for the GPU time it used, one
 * row for the pool's idle capacity, and untagged cost unallocated; they sum
 * to the month's bill exactly, whatever the idle policy (the policy's view
 * is chargeback.csv). Our own columns are x_-prefixed.
 */
import { formatDateTime } from '../util/time.js';
import type { ChargebackReport } from './chargeback.js';
import { gpuHours } from './csv-files.js';
import { csvText } from './csv-text.js';
import { divideHalfEven, fixed } from '../util/decimal.js';

export const FOCUS_COLUMNS = [
  'BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart', 'ChargePeriodEnd', 'BillingCurrency', 'BilledCost', 'EffectiveCost',
  'ChargeCategory', 'ChargeDescription', 'ResourceId', 'ResourceType', 'ServiceName',
  'AllocatedMethodId', 'AllocatedMethodDetails', 'AllocatedResourceId', 'AllocatedTags',
  'x_CostBasis', 'x_IdlePolicy', 'x_Requests', 'x_InputTokens', 'x_OutputTokens', 'x_GpuHours', 'x_ModelVersion', 'x_Status',
] as const;
const FOCUS_NUMERIC = ['BilledCost', 'EffectiveCost', 'x_Requests', 'x_InputTokens', 'x_OutputTokens', 'x_GpuHours'];

export const METHOD_USED = 'inferledger-gpu-time-used';
export const METHOD_IDLE = 'inferledger-idle-capacity';

const iso = (ms: number): string => `${formatDateTime(ms).replace(' ', 'T')}Z`;

export function focusAllocatedCsv(report: ChargebackReport): string {
  const { month, basis, idle, poolOwners } = report.options;
  const rows = report.data.groups;
  const billedOf = new Map(report.data.pools.map((p) => [`${p.currency}\u0000${p.pool_id}`, p]));
  const ratio = (part: bigint, pool: string, currency: string): string => {
    const billed = billedOf.get(`${currency}\u0000${pool}`)?.billed ?? 0n;
    return billed === 0n ? '0' : fixed(divideHalfEven(part * 1_000_000_000_000n, billed)).replace(/0+$/, '').replace(/\.$/, '');
  };
  const cost = (amount: bigint): [string, string] => (basis === 'billed' ? [fixed(amount), ''] : ['', fixed(amount)]);
  const common = (currency: string): string[] => [iso(month.start), iso(month.end), iso(month.start), iso(month.end), currency];
  const out: string[][] = [];
  for (const r of rows) {
    out.push([
      ...common(r.currency), ...cost(r.used_cost), 'Usage', 'GPU time used by inference requests', r.pool_id, 'GPU pool', 'Inference',
      METHOD_USED,
      JSON.stringify({ Elements: [{ AllocatedRatio: ratio(r.used_cost, r.pool_id, r.currency), UsageQuantity: fixed(r.gpu_ms, 3), UsageUnit: 'GPU-ms' }] }),
      `${r.pool_id}/${r.model_id}/${r.model_version}/${r.feature_id}/${r.tenant_id}`,
      JSON.stringify({ team: r.team, tenant: r.tenant_id, model: r.model_id, feature: r.feature_id }),
      basis, idle, String(r.requests), String(r.input_tokens), String(r.output_tokens), gpuHours(r.gpu_ms), r.model_version, r.estimated ? 'estimated' : 'final',
    ]);
  }
  for (const p of report.data.pools) {
    const status = p.estimated ? 'estimated' : 'final';
    if (p.pool_id === '') {
      out.push([...common(p.currency), ...cost(p.unallocated), 'Usage', 'Billed cost without the pool tag (unallocated)', '', '', '', '', '', '', '', basis, idle, '0', '0', '0', '', '', status]);
      continue;
    }
    if (p.idle === 0n) continue;
    const owner = idle === 'owner' ? poolOwners[p.pool_id] : undefined;
    out.push([
      ...common(p.currency), ...cost(p.idle), 'Usage', 'GPU capacity paid for and not used (idle)', p.pool_id, 'GPU pool', 'Inference',
      METHOD_IDLE,
      JSON.stringify({ Elements: [{ AllocatedRatio: ratio(p.idle, p.pool_id, p.currency), UsageQuantity: p.capacity_gpu_ms === null || p.capacity_gpu_ms <= p.used_gpu_ms ? '0' : fixed(p.capacity_gpu_ms - p.used_gpu_ms, 3), UsageUnit: 'GPU-ms' }] }),
      `${p.pool_id}/(idle)`,
      JSON.stringify(owner === undefined ? {} : { team: owner }),
      basis, idle, '0', '0', '0', '', '', status,
    ]);
  }
  return csvText(FOCUS_COLUMNS, out, { numeric: FOCUS_NUMERIC });
}
