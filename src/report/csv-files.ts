/**
 * The pack's CSV files (RFC 4180, formulas neutralised: see csv-text.ts). Money is exact decimal text with 12 places;
 * CPP and cost per 1K tokens are rounded once to 12 places, half to even; GPU-hours to 6.
 */
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { csvText, formulaSafe } from './csv-text.js';
import { divideHalfEven, fixed, units } from '../util/decimal.js';
import type { ChargebackReport } from './chargeback.js';
import type { ChargebackLine } from './idle-policy.js';

export const CHARGEBACK_COLUMNS = [
  'month', 'owner', 'model_id', 'feature_id', 'requests', 'input_tokens', 'output_tokens', 'gpu_hours',
  'used_cost', 'idle_cost', 'cost', 'cpp', 'cost_per_1k_tokens', 'currency', 'status',
] as const;
const CHARGEBACK_NUMERIC = ['requests', 'input_tokens', 'output_tokens', 'gpu_hours', 'used_cost', 'idle_cost', 'cost', 'cpp', 'cost_per_1k_tokens'];

/** GPU time (units of 1e-3 ms) in hours, units of 1e-6, half even. */
export function gpuHours(gpuMs: bigint): string {
  return fixed(divideHalfEven(gpuMs, 3600n), 6);
}

export function lineCells(month: string, l: ChargebackLine): string[] {
  const cost = l.used_cost + l.idle_cost;
  const tokens = l.input_tokens + l.output_tokens;
  return [
    month, l.owner, l.model_id, l.feature_id, String(l.requests), String(l.input_tokens), String(l.output_tokens), gpuHours(l.gpu_ms),
    fixed(l.used_cost), fixed(l.idle_cost), fixed(cost),
    l.requests === 0n ? '' : fixed(divideHalfEven(cost, l.requests)),
    tokens === 0n ? '' : fixed(divideHalfEven(cost * 1000n, tokens)),
    l.currency, l.estimated ? 'estimated' : 'final',
  ];
}

export function chargebackCsv(report: ChargebackReport): string {
  return csvText(CHARGEBACK_COLUMNS, report.lines.map((l) => lineCells(report.options.month.label, l)), { numeric: CHARGEBACK_NUMERIC });
}

const csvLine = z.object({
  owner: z.string(), model_id: z.string(), feature_id: z.string(), currency: z.string(),
  requests: z.string().regex(/^\d+$/, 'must be a count').transform((t) => BigInt(t)), cost: z.string().transform(units),
});

export const DELTA_COLUMNS = [
  'month', 'owner', 'model_id', 'feature_id', 'currency', 'estimated_requests', 'final_requests',
  'estimated_cost', 'final_cost', 'delta_cost',
] as const;
const DELTA_NUMERIC = ['estimated_requests', 'final_requests', 'estimated_cost', 'final_cost', 'delta_cost'];

/**
 * estimated -> final, per line (a line only one side has counts 0 on the
 * other). Read from the estimated pack's chargeback.csv, so the delta is
 * against exactly what was published. Lines are matched by their names as
 * neutralised (csv-text.ts), which also matches a pack written before names
 * were; lines that neutralise alike are summed, so no cost is dropped.
 */
export function deltaCsv(month: string, estimatedCsv: string, finalCsv: string): string {
  const read = (text: string): Map<string, { requests: bigint; cost: bigint }> => {
    const out = new Map<string, { requests: bigint; cost: bigint }>();
    for (const r of z.array(csvLine).parse(parse(text, { columns: true, skip_empty_lines: true }))) {
      const k = JSON.stringify([r.currency, r.owner, r.model_id, r.feature_id].map(formulaSafe));
      const sum = out.get(k) ?? { requests: 0n, cost: 0n };
      sum.requests += r.requests;
      sum.cost += r.cost;
      out.set(k, sum);
    }
    return out;
  };
  const before = read(estimatedCsv);
  const after = read(finalCsv);
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort();
  const rows = keys.map((k) => {
    const [currency = '', owner = '', model = '', feature = ''] = z.array(z.string()).parse(JSON.parse(k));
    const b = before.get(k) ?? { requests: 0n, cost: 0n };
    const a = after.get(k) ?? { requests: 0n, cost: 0n };
    return [month, owner, model, feature, currency, String(b.requests), String(a.requests), fixed(b.cost), fixed(a.cost), fixed(a.cost - b.cost)];
  });
  return csvText(DELTA_COLUMNS, rows, { numeric: DELTA_NUMERIC });
}
