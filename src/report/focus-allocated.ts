/**
 * focus-allocated.csv: the month's cost as FOCUS 1.3 rows with the
 * allocation columns (AllocatedMethodId, AllocatedMethodDetails,
 * AllocatedResourceId, AllocatedResourceName, AllocatedTags), so any FOCUS
 * tool reads our split. Per pool and currency: one row per group for the GPU
 * time it used, one row for the pool's idle capacity, and untagged cost
 * unallocated (one row per service). They sum to the month's bill exactly,
 * whatever the idle policy (the policy's view is chargeback.csv).
 *
 * Every cost column FOCUS makes mandatory is filled (BilledCost,
 * EffectiveCost, ListCost, ContractedCost), and PricingQuantity with them,
 * whichever basis the month was attributed on: the attributed column is
 * attribution's split as it is (cost_allocation, pool_cost), the others are
 * the same pool-hours' bill on that column split by the same weights
 * (month-used-costs.sql), so on every column the rows of a pool sum to its
 * bill to the last unit. The bill stores no contracted cost: ContractedCost
 * is FOCUS's default for it, ListCost (BilledCost on a Credit line).
 * PricingQuantity is the pool's consumed quantity (the bill's only quantity)
 * split like the costs, in its unit (PricingUnit); null when the pool's lines
 * have no quantity or more than one unit (they would not add up).
 * BillingAccountId and the providers are those of the pool's lines carrying
 * the most BilledCost: a row is per owner and pool, not per account.
 * ServiceProviderName, HostProviderName and InvoiceIssuerName are the bill's
 * provider (the bill names no other host or issuer). Our own columns are
 * x_-prefixed.
 */
import { formatDateTime } from '../util/time.js';
import type { ChargebackReport } from './chargeback.js';
import { gpuHours } from './csv-files.js';
import { csvText } from './csv-text.js';
import type { CostColumns, PoolBillRow } from './month-data.js';
import { divideHalfEven, fixed } from '../util/decimal.js';

export const FOCUS_COLUMNS = [
  'BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart', 'ChargePeriodEnd', 'BillingCurrency',
  'BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost', 'PricingQuantity', 'PricingUnit',
  'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ResourceId', 'ResourceType', 'ServiceName', 'ServiceCategory',
  'BillingAccountId', 'ServiceProviderName', 'HostProviderName', 'InvoiceIssuerName',
  'AllocatedMethodId', 'AllocatedMethodDetails', 'AllocatedResourceId', 'AllocatedResourceName', 'AllocatedTags',
  'x_CostBasis', 'x_IdlePolicy', 'x_Requests', 'x_InputTokens', 'x_OutputTokens', 'x_GpuHours', 'x_ModelVersion', 'x_Status',
] as const;
const FOCUS_NUMERIC = ['BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost', 'PricingQuantity', 'x_Requests', 'x_InputTokens', 'x_OutputTokens', 'x_GpuHours'];

export const METHOD_USED = 'inferledger-gpu-time-used';
export const METHOD_IDLE = 'inferledger-idle-capacity';
/**
 * ServiceCategory of a pool's rows: their ServiceName is the pool's service,
 * model inference, and FOCUS gives a service the one category of its primary
 * purpose ("Compute" is the GPU instances under it, not what the rows are).
 */
export const POOL_SERVICE_CATEGORY = 'AI and Machine Learning';
/** ServiceCategory of untagged cost: the bill keeps no category for a line, and FOCUS's catch-all is the only one we can tell. */
export const UNTAGGED_SERVICE_CATEGORY = 'Other';

/** The FOCUS amounts of a row split alike: cost columns and quantity, in units of 1e-12. */
interface Amounts { billed: bigint; effective: bigint; list: bigint; contracted: bigint; quantity: bigint }

const ZERO: Amounts = { billed: 0n, effective: 0n, list: 0n, contracted: 0n, quantity: 0n };
const NUMBER = /^-?\d+(\.\d+)?$/;

const iso = (ms: number): string => `${formatDateTime(ms).replace(' ', 'T')}Z`;
const key = (...parts: string[]): string => JSON.stringify(parts);
const amountsOf = (r: Amounts): Amounts => ({ billed: r.billed, effective: r.effective, list: r.list, contracted: r.contracted, quantity: r.quantity });
const plus = (a: Amounts, b: Amounts): Amounts => ({
  billed: a.billed + b.billed, effective: a.effective + b.effective, list: a.list + b.list, contracted: a.contracted + b.contracted, quantity: a.quantity + b.quantity,
});
const minus = (a: Amounts, b: Amounts): Amounts => ({
  billed: a.billed - b.billed, effective: a.effective - b.effective, list: a.list - b.list, contracted: a.contracted - b.contracted, quantity: a.quantity - b.quantity,
});
const isZero = (a: Amounts): boolean => a.billed === 0n && a.effective === 0n && a.list === 0n && a.contracted === 0n && a.quantity === 0n;
/** A decimal as a JSON number, without trailing zeros ("0.250000000000" -> 0.25). */
const jsonNumber = (text: string): string => {
  if (!NUMBER.test(text)) throw new Error(`not a decimal: ${JSON.stringify(text)}`);
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
};
/** AllocatedMethodDetails: FOCUS's object, AllocatedRatio and UsageQuantity as JSON numbers. */
const methodDetails = (ratio: string, gpuMs: string): string =>
  `{"Elements":[{"AllocatedRatio":${jsonNumber(ratio)},"UsageQuantity":${jsonNumber(gpuMs)},"UsageUnit":"GPU-ms"}]}`;

/** What a row takes from the bill it comes from: its account, providers and quantity's unit ('' for null). */
interface BillOrigin { account: string; provider: string; unit: string }

const NO_ORIGIN: BillOrigin = { account: '', provider: '', unit: '' };
/** A quantity adds up one thing only when its lines have one unit; no unit (no quantity) or several leave it null. */
const originOf = (b: PoolBillRow): BillOrigin => ({ account: b.billing_account_id, provider: b.provider, unit: b.units.length === 1 ? b.units[0] ?? '' : '' });

export function focusAllocatedCsv(report: ChargebackReport, costColumns: CostColumns): string {
  const { month, basis, idle, poolOwners } = report.options;
  const { groups, pools } = report.data;
  // The attributed column is attribution's own amount; the other columns come from costColumns.
  const onBasis = (c: Amounts, amount: bigint): Amounts => (basis === 'billed' ? { ...c, billed: amount } : { ...c, effective: amount });

  // The bill of every pool on each column, and what its groups used (every group of the pool, also in an owner's pack).
  const billOf = new Map<string, { amounts: Amounts; origin: BillOrigin }>();
  const servicesOf = new Map<string, { service: string; amounts: Amounts; origin: BillOrigin }[]>();
  for (const b of costColumns.pools) {
    if (b.pool_id === '') servicesOf.set(b.currency, [...(servicesOf.get(b.currency) ?? []), { service: b.service, amounts: amountsOf(b), origin: originOf(b) }]);
    else billOf.set(key(b.currency, b.pool_id), { amounts: amountsOf(b), origin: originOf(b) });
  }
  const usedOf = new Map<string, Amounts>();
  const usedInPool = new Map<string, Amounts>();
  for (const u of costColumns.used) {
    usedOf.set(key(u.currency, u.pool_id, u.team, u.tenant_id, u.model_id, u.model_version, u.feature_id), amountsOf(u));
    usedInPool.set(key(u.currency, u.pool_id), plus(usedInPool.get(key(u.currency, u.pool_id)) ?? ZERO, amountsOf(u)));
  }
  // The other columns must come from the very pool-hours the attributed one did.
  for (const p of pools) {
    const onFile = p.pool_id === ''
      ? (servicesOf.get(p.currency) ?? []).reduce((a, s) => plus(a, s.amounts), ZERO)
      : billOf.get(key(p.currency, p.pool_id))?.amounts ?? ZERO;
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
  const [start, end] = [iso(month.start), iso(month.end)];
  /** From BillingPeriodStart to PricingUnit: the period, the amounts, and the quantity when it is of one unit. */
  const money = (currency: string, a: Amounts, origin: BillOrigin): string[] => [
    start, end, start, end, currency,
    fixed(a.billed), fixed(a.effective), fixed(a.list), fixed(a.contracted),
    origin.unit === '' ? '' : fixed(a.quantity), origin.unit,
  ];
  /** From ServiceName to InvoiceIssuerName. */
  const service = (name: string, category: string, origin: BillOrigin): string[] => [name, category, origin.account, origin.provider, origin.provider, origin.provider];
  const out: string[][] = [];
  for (const r of groups) {
    const used = usedOf.get(key(r.currency, r.pool_id, r.team, r.tenant_id, r.model_id, r.model_version, r.feature_id));
    if (used === undefined) throw new Error(`focus-allocated.csv: no split on every cost column for ${r.pool_id} (${r.currency}) ${r.model_id} ${r.feature_id}`);
    const origin = billOf.get(key(r.currency, r.pool_id))?.origin ?? NO_ORIGIN;
    const allocated = `${r.pool_id}/${r.model_id}/${r.model_version}/${r.feature_id}/${r.tenant_id}`;
    out.push([
      // ChargeClass null: no row is a correction of a closed billing period.
      ...money(r.currency, onBasis(used, r.used_cost), origin), 'Usage', '', 'GPU time used by inference requests', r.pool_id, 'GPU pool',
      ...service('Inference', POOL_SERVICE_CATEGORY, origin),
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
        out.push([
          ...money(p.currency, s.amounts, s.origin), 'Usage', '', 'Billed cost without the pool tag (unallocated)', '', '',
          ...service(s.service, UNTAGGED_SERVICE_CATEGORY, s.origin), '', '', '', '', '', basis, idle, '0', '0', '0', '', '', status,
        ]);
      }
      continue;
    }
    const poolKey = key(p.currency, p.pool_id);
    const bill = billOf.get(poolKey);
    const idleAmounts = onBasis(minus(bill?.amounts ?? ZERO, usedInPool.get(poolKey) ?? ZERO), p.idle);
    if (isZero(idleAmounts)) continue;
    const origin = bill?.origin ?? NO_ORIGIN;
    // Idle is the unallocated portion of the pool's cost (AllocatedResourceId null), unless --idle owner gives it to the pool's team.
    const owner = idle === 'owner' ? poolOwners[p.pool_id] : undefined;
    const allocated = owner === undefined ? '' : `${p.pool_id}/(idle)`;
    out.push([
      ...money(p.currency, idleAmounts, origin), 'Usage', '', 'GPU capacity paid for and not used (idle)', p.pool_id, 'GPU pool',
      ...service('Inference', POOL_SERVICE_CATEGORY, origin),
      METHOD_IDLE,
      methodDetails(ratio(p.idle, p.pool_id, p.currency), p.capacity_gpu_ms === null || p.capacity_gpu_ms <= p.used_gpu_ms ? '0' : fixed(p.capacity_gpu_ms - p.used_gpu_ms, 3)),
      allocated, allocated,
      JSON.stringify(owner === undefined ? {} : { team: owner }),
      basis, idle, '0', '0', '0', '', '', status,
    ]);
  }
  return csvText(FOCUS_COLUMNS, out, { numeric: FOCUS_NUMERIC });
}
