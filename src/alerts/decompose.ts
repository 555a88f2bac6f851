/**
 * Why did CPP move? Pure math, no I/O.
 *
 * A key's CPP on a day is the sum over its cells (pool x weight basis) of
 *   V_i = s_i x p_i x e_i [x v_i]
 * with s_i = R_i / R (share of the key's requests in the cell), p_i = U_i / G_i
 * (used cost per GPU-ms: the bill's price of the GPU time, x 3.6e6 per GPU-hour),
 * e_i = G_i / R_i (GPU-ms per request) and, for the fully loaded metric only,
 * v_i = L_i / U_i (loaded cost per used cost: 1 / utilisation of the pool under
 * the GPU-ms basis). Used CPP = sum(s p e); loaded CPP = sum(s p e v).
 *
 * The change from a baseline day to an observed day is split with LMDI-I
 * (log-mean Divisia index): factor x gets
 *   dV_x = sum_i L(V_i^1, V_i^0) ln(x_i^1 / x_i^0),   L(a, b) = (a - b) / (ln a - ln b)
 * over cells present on both days. Those terms add up to sum_i (V_i^1 - V_i^0)
 * exactly, so the factors' contributions add up to the CPP change; a cell on
 * one day only (a new pool, a basis change) is traffic mix and adds its whole
 * V_i to mix. The multiplicative factors D_x = exp(dV_x / L(V^1, V^0)) then
 * multiply to V^1 / V^0 exactly. Money per day of a factor = dV_x x today's
 * requests; they add up to the extra daily cost. Floats: ratios only.
 */

export type Metric = 'loaded' | 'used';
export type FactorName = 'price' | 'idle' | 'gpu_ms_per_request' | 'mix';
export const FACTOR_NAMES: readonly FactorName[] = ['price', 'idle', 'gpu_ms_per_request', 'mix'];

/** One pool x weight basis of a key on one day. Costs as numbers (ratios only). */
export interface Cell {
  cell: string;
  requests: number;
  gpuMs: number;
  loadedCost: number;
  usedCost: number;
}

export interface Factor {
  name: FactorName;
  /** Multiplicative factor; the product over factors is observed / baseline CPP. */
  ratio: number;
  /** Additive share of the CPP change (currency per request). */
  cppDelta: number;
  /** cppDelta x observed requests: currency per day. */
  perDay: number;
}

export interface Decomposition {
  metric: Metric;
  baselineCpp: number;
  observedCpp: number;
  factors: Factor[];
  /** The factor adding the most money per day (the one that moved most upward). */
  dominant: FactorName;
}

/** Logarithmic mean; L(a, a) = a. */
export function logMean(a: number, b: number): number {
  if (a === b) return a;
  if (a <= 0 || b <= 0) return 0;
  return (a - b) / (Math.log(a) - Math.log(b));
}

interface Parts {
  s: number;
  p: number;
  e: number;
  v: number;
  value: number;
  /** All of s, p, e, v are positive and finite: the cell takes part in the log split. */
  splittable: boolean;
}

function partsOf(cell: Cell, total: number, metric: Metric): Parts {
  const s = cell.requests / total;
  const p = cell.usedCost / cell.gpuMs;
  const e = cell.gpuMs / cell.requests;
  const v = cell.loadedCost / cell.usedCost;
  const value = (metric === 'loaded' ? cell.loadedCost : cell.usedCost) / total;
  const splittable = [s, p, e, v].every((x) => Number.isFinite(x) && x > 0);
  return { s, p, e, v, value, splittable };
}

export function cppOf(cells: readonly Cell[], metric: Metric): number {
  const requests = cells.reduce((a, c) => a + c.requests, 0);
  if (requests === 0) return 0;
  return cells.reduce((a, c) => a + (metric === 'loaded' ? c.loadedCost : c.usedCost), 0) / requests;
}

export function decompose(metric: Metric, baseline: readonly Cell[], observed: readonly Cell[]): Decomposition {
  const r0 = baseline.reduce((a, c) => a + c.requests, 0);
  const r1 = observed.reduce((a, c) => a + c.requests, 0);
  const before = new Map(baseline.filter((c) => c.requests > 0).map((c) => [c.cell, partsOf(c, r0, metric)]));
  const after = new Map(observed.filter((c) => c.requests > 0).map((c) => [c.cell, partsOf(c, r1, metric)]));
  const delta: Record<FactorName, number> = { price: 0, idle: 0, gpu_ms_per_request: 0, mix: 0 };
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(name);
    const b = after.get(name);
    if (a && b && a.splittable && b.splittable) {
      const w = logMean(b.value, a.value);
      delta.mix += w * Math.log(b.s / a.s);
      delta.price += w * Math.log(b.p / a.p);
      delta.gpu_ms_per_request += w * Math.log(b.e / a.e);
      if (metric === 'loaded') delta.idle += w * Math.log(b.v / a.v);
    } else {
      // On one day only, or without GPU time or cost to split by: all of it is mix.
      delta.mix += (b?.value ?? 0) - (a?.value ?? 0);
    }
  }
  const baselineCpp = cppOf(baseline, metric);
  const observedCpp = cppOf(observed, metric);
  const total = logMean(observedCpp, baselineCpp);
  const factors = FACTOR_NAMES.map((name): Factor => ({
    name,
    ratio: total > 0 ? Math.exp(delta[name] / total) : 1,
    cppDelta: delta[name],
    perDay: delta[name] * r1,
  }));
  const dominant = factors.reduce((best, f) => (f.perDay > best.perDay ? f : best)).name;
  return { metric, baselineCpp, observedCpp, factors, dominant };
}

/** Median of numbers; for an even count, the lower middle (so it is always one of the values). */
export function lowerMedianIndex(values: readonly number[]): number {
  const order = values.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  return order[Math.floor((order.length - 1) / 2)]?.[1] ?? -1;
}

/** Robust spread: 1.4826 x median absolute deviation from `center` (the standard deviation for normal noise). */
export function robustSpread(values: readonly number[], center: number): number {
  if (values.length === 0) return 0;
  const deviations = values.map((v) => Math.abs(v - center)).sort((a, b) => a - b);
  const mid = deviations.length / 2;
  const mad = deviations.length % 2 === 1 ? (deviations[Math.floor(mid)] ?? 0) : ((deviations[mid - 1] ?? 0) + (deviations[mid] ?? 0)) / 2;
  return 1.4826 * mad;
}

/**
 * The decomposition with money per day at a whole day's traffic: for the
 * first hours of a day, `scale` is the day's expected requests over those
 * hours' requests. Ratios and CPPs do not change.
 */
export function atDailyPace(d: Decomposition, scale: number): Decomposition {
  if (scale === 1) return d;
  return { ...d, factors: d.factors.map((f) => ({ ...f, perDay: f.perDay * scale })) };
}
