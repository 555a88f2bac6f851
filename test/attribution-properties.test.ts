/**
 * Properties of attribution over random pools, periods, costs and traffic,
 * checked on the real embedded engine: every unit of every pool-period's bill
 * is accounted for exactly, and re-running gives identical tables.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attributeWindow } from '../src/attribution/attribute.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import { allocations, pools, settings, snapshot } from './helpers/attribution.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests, type TestRequest } from './helpers/data.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';

const POOLS = ['p1', 'p2', 'p3'];
const units = fc.bigInt({ min: -(10n ** 14n), max: 10n ** 16n });
const cost = units.map((u) => formatScaled(u));

const billArb = fc.array(
  fc.record({
    pool: fc.constantFrom(...POOLS, ''),
    hour: fc.integer({ min: 0, max: 5 }),
    daily: fc.boolean(),
    cost,
    instance: fc.constantFrom('g6.xlarge', 'p5.48xlarge', 'mystery.large'),
    currency: fc.constantFrom('USD', 'USD', 'USD', 'EUR'),
  }),
  { maxLength: 8 },
);
const trafficArb = fc.array(
  fc.record({
    pool: fc.constantFrom(...POOLS, 'unbilled'),
    offsetMs: fc.integer({ min: 0, max: 6 * HOUR - 1 }),
    gpuMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_000_000 }).map((n) => n / 1000)),
    tenant: fc.constantFrom('a', 'b', 'c', 'd'),
    model: fc.constantFrom('m1', 'm2'),
    tokens: fc.nat({ max: 5000 }),
    duplicate: fc.boolean(),
  }),
  { maxLength: 40 },
);
const weightArb = fc.constantFrom<'gpu_ms' | 'tokens' | 'requests'>('gpu_ms', 'tokens', 'requests');

describe('attribution properties (real engine)', () => {
  // endOnFailure: each case runs the real engine, so shrinking would take minutes; the first counterexample is printed as found.
  it('conserves every pool-period exactly and re-runs identically', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(billArb, trafficArb, weightArb, async (bill, traffic, weightBasis) => {
        const w = await freshWarehouse();
        try {
          await insertBilling(
            w,
            bill.map((b, i) => billingLine({
              pool: b.pool, start: DAY0 + (b.daily ? 0 : b.hour * HOUR), hours: b.daily ? 24 : 1,
              effective_cost: b.cost, instance_type: b.instance, billing_currency: b.currency, resource_id: `r${i}`,
            })),
          );
          const requests: TestRequest[] = traffic.map((t, i) => ({
            id: `q${i}`, ts: DAY0 + t.offsetMs, pool: t.pool, gpuMs: t.gpuMs, tenant: t.tenant, model: t.model, input: t.tokens,
          }));
          await insertRequests(w, [...requests, ...requests.filter((_, i) => traffic[i]?.duplicate)]);
          const s = settings({ weightBasis });
          await attributeWindow(w, s, new Date(DAY0), new Date(DAY0 + 24 * HOUR));

          const allocated = new Map<string, bigint>();
          const used = new Map<string, bigint>();
          for (const a of await allocations(w)) {
            const key = `${a.period_start}|${a.period_end}|${a.pool_id}|${a.currency}`;
            allocated.set(key, (allocated.get(key) ?? 0n) + toScaled(a.cost));
            used.set(key, (used.get(key) ?? 0n) + toScaled(a.used_cost));
          }
          for (const p of await pools(w)) {
            const key = `${p.period_start}|${p.period_end}|${p.pool_id}|${p.currency}`;
            const billed = toScaled(p.billed_cost);
            expect(toScaled(p.allocated_cost)).toBe(allocated.get(key) ?? 0n);
            expect(toScaled(p.used_cost)).toBe(used.get(key) ?? 0n);
            if (p.pool_id === '') {
              expect(toScaled(p.unallocated_cost)).toBe(billed);
            } else {
              // used + idle == billed; and the fully loaded cost is all of the bill when there is traffic, else all idle.
              expect(toScaled(p.used_cost) + toScaled(p.idle_cost)).toBe(billed);
              expect(allocated.has(key) ? allocated.get(key) : toScaled(p.idle_cost)).toBe(billed);
            }
          }
          const first = await snapshot(w);
          await attributeWindow(w, s, new Date(DAY0), new Date(DAY0 + 24 * HOUR));
          expect(await snapshot(w)).toEqual(first);
        } finally {
          await discardWarehouse(w);
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 15), endOnFailure: true },
    );
  });
});
