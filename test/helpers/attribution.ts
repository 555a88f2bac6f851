import { z } from 'zod';
import { configSchema, type Config } from '../../src/config/config.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';

export function settings(overrides: Partial<Config['attribution']> = {}): Config['attribution'] {
  return configSchema.shape.attribution.parse(overrides);
}

export const allocationRow = z.object({
  period_start: z.string(), period_end: z.string(), pool_id: z.string(), model_id: z.string(), model_version: z.string(), feature_id: z.string(),
  tenant_id: z.string(), team: z.string(), requests: z.coerce.number(), gpu_ms: z.string(), weight_basis: z.string(),
  cost: z.string(), used_cost: z.string(), currency: z.string(), estimated: z.boolean(),
});
export const poolRow = z.object({
  period_start: z.string(), period_end: z.string(), pool_id: z.string(), currency: z.string(),
  billed_cost: z.string(), allocated_cost: z.string(), used_cost: z.string(), idle_cost: z.string(), unallocated_cost: z.string(),
  capacity_gpu_ms: z.string().nullable(), used_gpu_ms: z.string(), utilization: z.string().nullable(), requests: z.coerce.number(),
  weight_basis: z.string(), estimated: z.boolean(),
});
export const coverageRow = z.object({
  day: z.string(), currency: z.string(), billed_cost: z.string(), allocated_cost: z.string(), idle_cost: z.string(),
  unallocated_cost: z.string(), requests: z.coerce.number(), attributed_requests: z.coerce.number(),
  pending_requests: z.coerce.number(), unknown_pool_requests: z.coerce.number(),
});
export const cppRow = z.object({
  day: z.string(), model_id: z.string(), model_version: z.string(), feature_id: z.string(), team: z.string(), tenant_id: z.string(),
  currency: z.string(), requests: z.coerce.number(), input_tokens: z.coerce.number(), output_tokens: z.coerce.number(),
  cost: z.string(), used_cost: z.string(), cpp: z.string(), cost_per_1k_tokens: z.string().nullable(),
});

export async function allocations(w: Warehouse): Promise<z.infer<typeof allocationRow>[]> {
  return w.query('SELECT * FROM cost_allocation ORDER BY period_start, pool_id, currency, model_id, model_version, feature_id, tenant_id, team', {}, allocationRow);
}
export async function pools(w: Warehouse): Promise<z.infer<typeof poolRow>[]> {
  return w.query('SELECT * FROM pool_cost ORDER BY period_start, pool_id, currency', {}, poolRow);
}
export async function coverage(w: Warehouse): Promise<z.infer<typeof coverageRow>[]> {
  return w.query('SELECT * FROM coverage_daily ORDER BY day, currency', {}, coverageRow);
}
export async function cpp(w: Warehouse): Promise<z.infer<typeof cppRow>[]> {
  return w.query('SELECT * FROM cpp_daily ORDER BY day, model_id, model_version, feature_id, team, tenant_id, currency', {}, cppRow);
}

/**
 * Every attribution table, minus the time it was computed: what must not
 * change between re-runs. Across two warehouses the billing version is left
 * out too: each records the same bill under a version of its own.
 */
export async function snapshot(w: Warehouse, options: { acrossWarehouses?: boolean } = {}): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of ['cost_allocation', 'pool_cost', 'cpp_daily', 'coverage_daily']) {
    const versioned = options.acrossWarehouses === true && (table === 'cost_allocation' || table === 'pool_cost');
    out[table] = await w.query(
      versioned ? 'SELECT * EXCEPT (attributed_at, billing_version) FROM {t:Identifier} ORDER BY ALL' : 'SELECT * EXCEPT attributed_at FROM {t:Identifier} ORDER BY ALL',
      { t: table },
      z.record(z.string(), z.unknown()),
    );
  }
  return out;
}
