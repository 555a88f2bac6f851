import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow, daysOf, dropStaleStagingTables } from '../src/attribution/attribute.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { allocations, coverage, cpp, pools, settings, snapshot } from './helpers/attribution.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests } from './helpers/data.js';
import { freshWarehouse } from './helpers/warehouse.js';

let w: Warehouse;
beforeEach(async () => {
  w = await freshWarehouse();
});
afterEach(async () => {
  await w.close();
});

const DAY1 = DAY0 + 24 * HOUR;
const attribute = (s = settings(), from = DAY0, to = DAY1) => attributeWindow(w, s, new Date(from), new Date(to));
const sum = (values: string[]): string => formatScaled(values.reduce((a, v) => a + toScaled(v), 0n));

describe('attribution', () => {
  it('splits a pool-hour by GPU time and shows used and idle cost against capacity', async () => {
    // g6.xlarge: 1 GPU, so one instance-hour is 3,600,000 GPU-ms of capacity.
    await insertBilling(w, [billingLine({ effective_cost: '36' })]);
    await insertRequests(w, [
      { id: 'a', ts: DAY0 + 1000, gpuMs: 360_000, tenant: 'acme' },
      { id: 'b', ts: DAY0 + 2000, gpuMs: 720_000, tenant: 'globex' },
    ]);
    await attribute();
    const rows = await allocations(w);
    expect(rows.map((r) => [r.tenant_id, r.cost, r.used_cost, r.weight_basis])).toEqual([
      ['acme', '12', '3.6', 'gpu_ms'],
      ['globex', '24', '7.2', 'gpu_ms'],
    ]);
    const [pool] = await pools(w);
    expect(pool).toMatchObject({ billed_cost: '36', allocated_cost: '36', used_cost: '10.8', idle_cost: '25.2', capacity_gpu_ms: '3600000', used_gpu_ms: '1080000', utilization: '0.3', requests: 2 });
  });

  it('splits remainders so sums are exact: 1 unit of cost over three equal groups', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '0.000000000001', instance_type: 'unknown-type' })]);
    await insertRequests(w, ['x', 'y', 'z'].map((t, i) => ({ id: t, ts: DAY0 + i, tenant: t, gpuMs: 5 })));
    await attribute();
    const rows = await allocations(w);
    expect(rows.map((r) => r.cost).sort()).toEqual(['0', '0', '0.000000000001']);
    expect(sum(rows.map((r) => r.cost))).toBe('0.000000000001');
    // Capacity unknown: used cost is the cost, nothing idle, utilisation unknown.
    expect(rows.map((r) => r.used_cost)).toEqual(rows.map((r) => r.cost));
    expect((await pools(w))[0]).toMatchObject({ idle_cost: '0', capacity_gpu_ms: null, utilization: null });
  });

  it('caps used cost at the bill when GPU time exceeds capacity (batched requests overlap)', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '5' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0, gpuMs: 3_000_000 }, { id: 'b', ts: DAY0 + 1, gpuMs: 3_000_000 }]);
    await attribute();
    expect((await pools(w))[0]).toMatchObject({ used_cost: '5', idle_cost: '0', utilization: '1.666666' });
  });

  it('billing with no traffic is all idle', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '7.5' })]);
    await attribute();
    expect(await allocations(w)).toEqual([]);
    expect((await pools(w))[0]).toMatchObject({ billed_cost: '7.5', allocated_cost: '0', used_cost: '0', idle_cost: '7.5', requests: 0 });
    expect((await coverage(w))[0]).toMatchObject({ billed_cost: '7.5', idle_cost: '7.5', requests: 0 });
  });

  it('traffic with no billing is pending, not in cpp_daily, and joins when the bill lands', async () => {
    await insertRequests(w, [{ id: 'a', ts: DAY0 + 5 * HOUR }, { id: 'b', ts: DAY0 + 5 * HOUR + 1 }]);
    await attribute();
    expect(await cpp(w)).toEqual([]);
    expect(await coverage(w)).toEqual([containingCoverage({ currency: '', requests: 2, pending_requests: 2, attributed_requests: 0 })]);

    await insertBilling(w, [billingLine({ start: DAY0 + 5 * HOUR, effective_cost: '2' })]);
    await attribute();
    expect((await cpp(w))[0]).toMatchObject({ requests: 2, cost: '2', cpp: '1' });
    expect((await coverage(w))[0]).toMatchObject({ currency: 'USD', pending_requests: 0, attributed_requests: 2 });
  });

  it('keeps untagged billing as unallocated, and counts requests of a pool the bill does not know', async () => {
    await insertBilling(w, [billingLine({ pool: '', effective_cost: '3' }), billingLine({ pool: 'gpu-a', effective_cost: '4' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0, pool: 'gpu-a' }, { id: 'b', ts: DAY0 + 1, pool: 'typo-pool' }]);
    await attribute();
    const rows = await pools(w);
    expect(rows.map((r) => [r.pool_id, r.billed_cost, r.allocated_cost, r.unallocated_cost])).toEqual([['', '3', '0', '3'], ['gpu-a', '4', '4', '0']]);
    expect((await coverage(w))[0]).toMatchObject({ billed_cost: '7', allocated_cost: '4', unallocated_cost: '3', attributed_requests: 1, unknown_pool_requests: 1, pending_requests: 0 });
  });

  it('falls back to request counts when a pool has requests but zero GPU time', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '9' })]);
    await insertRequests(w, [
      { id: 'a', ts: DAY0, tenant: 'one', gpuMs: 0 },
      { id: 'b', ts: DAY0 + 1, tenant: 'two', gpuMs: 0 },
      { id: 'c', ts: DAY0 + 2, tenant: 'two', gpuMs: 0 },
    ]);
    await attribute();
    expect((await allocations(w)).map((r) => [r.tenant_id, r.cost, r.weight_basis])).toEqual([['one', '3', 'requests'], ['two', '6', 'requests']]);
    expect((await pools(w))[0]).toMatchObject({ used_cost: '0', idle_cost: '9' });
  });

  it('uses the configured weight basis per pool and records it', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '10' })]);
    await insertRequests(w, [
      { id: 'a', ts: DAY0, tenant: 'one', gpuMs: 900, input: 10, output: 10 },
      { id: 'b', ts: DAY0 + 1, tenant: 'two', gpuMs: 100, input: 50, output: 30 },
    ]);
    await attribute(settings({ pools: { 'gpu-a': { weightBasis: 'tokens' } } }));
    expect((await allocations(w)).map((r) => [r.tenant_id, r.cost, r.weight_basis])).toEqual([['one', '2', 'tokens'], ['two', '8', 'tokens']]);
  });

  it('replaces a restated period: new cost, estimated to final, same as attributing the final bill alone', async () => {
    const traffic = [{ id: 'a', ts: DAY0, gpuMs: 10 }, { id: 'b', ts: DAY0 + 1, gpuMs: 30, tenant: 't2' }];
    await insertRequests(w, traffic);
    await insertBilling(w, [billingLine({ effective_cost: '100', is_estimated: true })]);
    await attribute();
    expect((await pools(w))[0]).toMatchObject({ billed_cost: '100', estimated: true });

    await insertBilling(w, [billingLine({ effective_cost: '80', is_estimated: false })]);
    await attribute();
    const restated = await snapshot(w);
    expect((await pools(w))[0]).toMatchObject({ billed_cost: '80', estimated: false });
    expect(sum((await allocations(w)).map((r) => r.cost))).toBe('80');

    const fresh = await freshWarehouse();
    try {
      await insertRequests(fresh, traffic);
      await insertBilling(fresh, [billingLine({ effective_cost: '80' })]);
      await attributeWindow(fresh, settings(), new Date(DAY0), new Date(DAY1));
      const alone = await snapshot(fresh);
      const withoutVersion = (s: Record<string, unknown[]>) =>
        Object.fromEntries(Object.entries(s).map(([t, rows]) => [t, rows.map((r) => ({ ...(r as object), billing_version: undefined }))]));
      expect(withoutVersion(restated)).toEqual(withoutVersion(alone));
    } finally {
      await fresh.close();
    }
  });

  it('counts a duplicated request once', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '6' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 }]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 }, { id: 'b', ts: DAY0 + 1 }]);
    await attribute();
    expect((await pools(w))[0]?.requests).toBe(2);
    expect((await cpp(w))[0]).toMatchObject({ requests: 2, cpp: '3' });
  });

  it('puts a request exactly on a period boundary in the period it starts', async () => {
    await insertBilling(w, [billingLine({ start: DAY0, effective_cost: '1' }), billingLine({ start: DAY0 + HOUR, effective_cost: '2' })]);
    await insertRequests(w, [{ id: 'edge', ts: DAY0 + HOUR, tenant: 'edge' }, { id: 'early', ts: DAY0 + HOUR - 1, tenant: 'early' }]);
    await attribute();
    expect((await allocations(w)).map((r) => [r.period_start, r.tenant_id])).toEqual([
      ['2026-10-01 00:00:00', 'early'],
      ['2026-10-01 01:00:00', 'edge'],
    ]);
  });

  it('spreads a daily billing row over the whole day of hourly traffic, hour by hour', async () => {
    await insertBilling(w, [billingLine({ hours: 24, effective_cost: '24' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 + HOUR, tenant: 'a' }, { id: 'b', ts: DAY0 + 23 * HOUR, tenant: 'b', gpuMs: 200 }]);
    await attribute();
    const rows = await allocations(w);
    // Each hour carries 1/24 of the day; each request gets its own hour's share.
    expect(rows.map((r) => [r.period_start, r.tenant_id, r.cost])).toEqual([['2026-10-01 01:00:00', 'a', '1'], ['2026-10-01 23:00:00', 'b', '1']]);
    const hours = await pools(w);
    expect(hours).toHaveLength(24);
    expect(hours.every((p) => p.billed_cost === '1' && p.capacity_gpu_ms === '3600000')).toBe(true);
    expect(sum(hours.map((p) => p.billed_cost))).toBe('24');
  });

  it('never sums two currencies: separate rows for each', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '10' }), billingLine({ effective_cost: '7', billing_currency: 'EUR', resource_id: 'i-2' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 }]);
    await attribute();
    expect((await pools(w)).map((r) => [r.currency, r.billed_cost])).toEqual([['EUR', '7'], ['USD', '10']]);
    expect((await cpp(w)).map((r) => [r.currency, r.cost, r.requests])).toEqual([['EUR', '7', 1], ['USD', '10', 1]]);
    expect((await coverage(w)).map((r) => [r.currency, r.billed_cost])).toEqual([['EUR', '7'], ['USD', '10']]);
  });

  it('writes nothing for a window with nothing in it', async () => {
    await attribute();
    expect(await snapshot(w)).toEqual({ cost_allocation: [], pool_cost: [], cpp_daily: [], coverage_daily: [] });
  });

  it('picks up requests that arrive after their period was attributed', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '4' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0, tenant: 'first' }]);
    await attribute();
    await insertRequests(w, [{ id: 'late', ts: DAY0 + 10, tenant: 'late' }]);
    await attribute();
    expect((await allocations(w)).map((r) => [r.tenant_id, r.cost])).toEqual([['first', '2'], ['late', '2']]);
  });

  it('resolves teams: the event, else the feature mapping, else the model mapping, else unassigned', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '4' })]);
    await insertRequests(w, [
      { id: 'a', ts: DAY0, team: 'from-event', feature: 'search' },
      { id: 'b', ts: DAY0 + 1, feature: 'search' },
      { id: 'c', ts: DAY0 + 2, feature: 'chat', model: 'llm' },
      { id: 'd', ts: DAY0 + 3, feature: 'other', model: 'other' },
    ]);
    await attribute(settings({ featureTeams: { search: 'search-team' }, modelTeams: { llm: 'llm-team' } }));
    expect((await allocations(w)).map((r) => r.team).sort()).toEqual(['from-event', 'llm-team', 'search-team', 'unassigned']);
  });

  it('re-runs are idempotent, in any order of days', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '3.33' }), billingLine({ start: DAY1 + 2 * HOUR, effective_cost: '1.01' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 }, { id: 'b', ts: DAY1 + 2 * HOUR, tenant: 'x' }, { id: 'c', ts: DAY1 + 2 * HOUR + 5, tenant: 'y' }]);
    await attribute(settings(), DAY0, DAY1 + 24 * HOUR);
    const first = await snapshot(w);
    await attribute(settings(), DAY1, DAY1 + 24 * HOUR);
    await attribute(settings(), DAY0, DAY1);
    await attribute(settings(), DAY0, DAY1 + 24 * HOUR);
    expect(await snapshot(w)).toEqual(first);
  });

  it('cleans up staging tables a killed run left behind, and only those', async () => {
    await w.command('CREATE TABLE attribution_stage_0123456789ab_bill (x UInt8) ENGINE = Memory');
    await w.command('CREATE TABLE attribution_stage_not_ours (x UInt8) ENGINE = Memory');
    expect(await dropStaleStagingTables(w, 3600)).toEqual([]);
    expect(await dropStaleStagingTables(w, 0)).toEqual(['attribution_stage_0123456789ab_bill']);
    const left = await w.query("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'attribution_stage%'", {}, z.object({ name: z.string() }));
    expect(left.map((r) => r.name)).toEqual(['attribution_stage_not_ours']);
  });

  it('lists the UTC days a window touches', () => {
    expect(daysOf(new Date('2026-10-01T05:00:00Z'), new Date('2026-10-03T00:00:00Z')).map((d) => new Date(d).toISOString().slice(0, 10))).toEqual(['2026-10-01', '2026-10-02']);
    expect(() => daysOf(new Date(DAY1), new Date(DAY0))).toThrow(/after/);
  });
});

function containingCoverage(subset: Record<string, unknown>): unknown {
  return expect.objectContaining(subset) as unknown;
}
