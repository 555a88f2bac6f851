/**
 * Traffic kept as hourly groups (request_hours), on the real engine:
 * attribution from the groups equals attribution from the raw rows, all four
 * tables to the last unit; a restatement after retention removed the raw
 * rows gives what a warehouse that never removed them gives; the groups
 * follow the raw rows hour by hour; and a day whose traffic is gone is
 * refused, never attributed as a day without traffic.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeDay, attributeWindow } from '../src/attribution/attribute.js';
import { refreshRequestHours, TrafficRefusedError } from '../src/attribution/request-hours.js';
import { configSchema } from '../src/config/config.js';
import { applyRetention } from '../src/retention/apply.js';
import { formatScaled } from '../src/util/decimal.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { coverage, pools, settings, snapshot } from './helpers/attribution.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests, type TestRequest } from './helpers/data.js';
import { discardWarehouse, freshWarehouse, scalar } from './helpers/warehouse.js';

/** Long after DAY0 (2026-10-01): with the default 90 days, October 2026 is older than the horizon. */
const LATER = Date.UTC(2027, 1, 1);
const retention = configSchema.pick({ retention: true }).parse({});
const PARTITION = 20261001;

/** Copy some stored requests again as raw rows (what two writers at once can leave): FINAL counts each once. */
async function duplicateRaw(w: Warehouse, ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await w.command('INSERT INTO inference_requests SELECT * FROM inference_requests WHERE request_id IN {ids:Array(String)}', { ids });
}

const groupsRow = z.object({ hour: z.string(), requests: z.coerce.number() });
async function groupsByHour(w: Warehouse): Promise<Record<string, number>> {
  const rows = await w.query('SELECT toString(hour) AS hour, sum(requests) AS requests FROM request_hours GROUP BY hour ORDER BY hour', {}, groupsRow);
  return Object.fromEntries(rows.map((r) => [r.hour, r.requests]));
}

describe('attribution from hourly groups (real engine)', () => {
  const POOLS = ['p1', 'p2'];
  const billArb = fc.array(fc.record({
    pool: fc.constantFrom(...POOLS, ''),
    hour: fc.integer({ min: 0, max: 3 }),
    daily: fc.boolean(),
    cents: fc.integer({ min: -500, max: 100_000 }),
    instance: fc.constantFrom('g6.xlarge', 'mystery.large'),
    currency: fc.constantFrom('USD', 'USD', 'EUR'),
  }), { minLength: 1, maxLength: 5 });
  const trafficArb = fc.array(fc.record({
    pool: fc.constantFrom(...POOLS, 'unbilled'),
    offsetMs: fc.integer({ min: 0, max: 5 * HOUR - 1 }),
    gpuMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_000_000 }).map((n) => n / 1000)),
    tenant: fc.constantFrom('a', 'b'),
    model: fc.constantFrom('m1', 'm2'),
    feature: fc.constantFrom('f1', 'f2'),
    // '' takes the team from the configuration: 'search' for f1, then 'ml' for m2; an event saying 'search' meets it.
    team: fc.constantFrom('', '', 'search', 'ops'),
    tokens: fc.nat({ max: 5000 }),
    duplicate: fc.boolean(),
  }), { maxLength: 30 });
  const settingsArb = fc.record({ weightBasis: fc.constantFrom<'gpu_ms' | 'tokens' | 'requests'>('gpu_ms', 'tokens', 'requests'), costBasis: fc.constantFrom<'effective' | 'billed'>('effective', 'billed') });

  // endOnFailure: each case runs the real engine, so shrinking would take minutes; the first counterexample is printed as found.
  it('equal the raw rows, all four tables exactly; and after retention, a restatement equals a warehouse that kept its raw rows', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(billArb, trafficArb, settingsArb, async (bill, traffic, chosen) => {
        const s = settings({ ...chosen, featureTeams: { f1: 'search' }, modelTeams: { m2: 'ml' } });
        const lines = (scale: number) => bill.map((b, i) => billingLine({
          pool: b.pool, start: DAY0 + (b.daily ? 0 : b.hour * HOUR), hours: b.daily ? 24 : 1,
          effective_cost: formatScaled(BigInt(b.cents * scale) * 10n ** 10n), billed_cost: formatScaled(BigInt(b.cents * scale + 7) * 10n ** 10n),
          instance_type: b.instance, billing_currency: b.currency, resource_id: `r${i}`,
        }));
        const requests: TestRequest[] = traffic.map((t, i) => ({
          id: `q${i}`, ts: DAY0 + t.offsetMs, pool: t.pool, gpuMs: t.gpuMs, tenant: t.tenant, model: t.model, feature: t.feature, input: t.tokens,
          ...(t.team === '' ? {} : { team: t.team }),
        }));
        const [expiring, kept] = [await freshWarehouse(), await freshWarehouse()];
        try {
          for (const w of [expiring, kept]) {
            await insertBilling(w, lines(1));
            if (requests.length > 0) await insertRequests(w, requests);
            await duplicateRaw(w, requests.filter((_, i) => traffic[i]?.duplicate).map((r) => r.id));
          }
          // From the raw rows (FINAL), then from the groups: the same tables.
          await attributeDay(expiring, s, DAY0, { traffic: 'raw' });
          const fromRaw = await snapshot(expiring);
          await attributeDay(expiring, s, DAY0);
          expect(await snapshot(expiring)).toEqual(fromRaw);
          await attributeDay(kept, s, DAY0);

          // Retention removes October's raw rows of one warehouse; then the bill is restated in both.
          const applied = await applyRetention(expiring, retention, { now: LATER });
          expect(applied.tables[0]?.partitions.map((p) => p.action)).toEqual(requests.length > 0 ? ['dropped'] : []);
          expect(await scalar(expiring, 'SELECT count() AS n FROM inference_requests')).toBe(0);
          for (const w of [expiring, kept]) {
            await insertBilling(w, lines(3));
            await attributeDay(w, s, DAY0);
          }
          expect(await snapshot(expiring, { acrossWarehouses: true })).toEqual(await snapshot(kept, { acrossWarehouses: true }));
        } finally {
          await Promise.all([discardWarehouse(expiring), discardWarehouse(kept)]);
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 4), endOnFailure: true },
    );
  });
});

describe('request_hours', () => {
  let w: Warehouse;
  beforeEach(async () => {
    w = await freshWarehouse();
  });
  afterEach(async () => {
    await discardWarehouse(w);
  });
  const attribute = () => attributeWindow(w, settings(), new Date(DAY0), new Date(DAY0 + 24 * HOUR));

  it('follow the raw rows hour by hour: only a changed hour is rebuilt, an unchanged day writes nothing', async () => {
    await insertBilling(w, [billingLine({ start: DAY0 + HOUR, hours: 2 })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 + HOUR }, { id: 'b', ts: DAY0 + 2 * HOUR }, { id: 'c', ts: DAY0 + 2 * HOUR + 5 }]);
    expect(await refreshRequestHours(w, DAY0)).toMatchObject({ source: 'raw rows', rebuiltHours: 2 });
    expect(await refreshRequestHours(w, DAY0)).toMatchObject({ rebuiltHours: 0 });
    const built = await scalar(w, "SELECT toUnixTimestamp64Milli(max(built_at)) AS n FROM request_hours WHERE hour = '2026-10-01 01:00:00'");
    // A late request in hour 2, and a duplicate copy of one in it: hour 2 only.
    await insertRequests(w, [{ id: 'd', ts: DAY0 + 2 * HOUR + 9 }]);
    await duplicateRaw(w, ['b']);
    expect(await refreshRequestHours(w, DAY0)).toMatchObject({ rebuiltHours: 1 });
    expect(await groupsByHour(w)).toEqual({ '2026-10-01 01:00:00': 1, '2026-10-01 02:00:00': 3 });
    expect(await scalar(w, "SELECT toUnixTimestamp64Milli(max(built_at)) AS n FROM request_hours WHERE hour = '2026-10-01 01:00:00'")).toBe(built);
    await attribute();
    expect((await pools(w)).map((p) => p.requests)).toEqual([1, 3]);
  });

  it('are rebuilt after a mutation changed raw rows in place (same count, same ingested_at)', async () => {
    await insertBilling(w, [billingLine({ start: DAY0 })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0, team: 'old' }, { id: 'b', ts: DAY0 + 1, team: 'old' }]);
    await attribute();
    await w.command("ALTER TABLE inference_requests UPDATE team = 'new' WHERE team = 'old'", {}, { mutations_sync: '2' });
    expect(await refreshRequestHours(w, DAY0)).toMatchObject({ rebuiltHours: 1 });
    expect(await refreshRequestHours(w, DAY0)).toMatchObject({ rebuiltHours: 0 });
    await attribute();
    expect((await w.query('SELECT DISTINCT team FROM cost_allocation', {}, z.object({ team: z.string() }))).map((r) => r.team)).toEqual(['new']);
  });

  it('written in part or twice are found out and rebuilt', async () => {
    await insertBilling(w, [billingLine({ start: DAY0 })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0, tenant: 'x' }, { id: 'b', ts: DAY0 + 1, tenant: 'y' }]);
    await attribute();
    const first = await snapshot(w);
    // Twice: every group of the hour doubled (e.g. an upgrade's fill run by two processes at once).
    await w.command('INSERT INTO request_hours SELECT * FROM request_hours');
    expect(await refreshRequestHours(w, DAY0)).toMatchObject({ rebuiltHours: 1 });
    await attribute();
    expect(await snapshot(w)).toEqual(first);
    // In part: one group of the hour lost.
    await w.command("ALTER TABLE request_hours DELETE WHERE tenant_id = 'x'", {}, { mutations_sync: '2' });
    expect(await refreshRequestHours(w, DAY0)).toMatchObject({ rebuiltHours: 1 });
    expect(await groupsByHour(w)).toEqual({ '2026-10-01 00:00:00': 2 });
  });

  it('a billed day that never had traffic stays all idle, also once retention has passed its month', async () => {
    await insertBilling(w, [billingLine({ start: DAY0, effective_cost: '7.5' })]);
    await insertRequests(w, [{ id: 'other-day', ts: DAY0 + 3 * 24 * HOUR }]);
    await applyRetention(w, retention, { now: LATER });
    expect(await scalar(w, "SELECT count() AS n FROM retention_days WHERE day = '2026-10-01' AND requests = 0")).toBe(1);
    await attribute();
    expect(await pools(w)).toMatchObject([{ billed_cost: '7.5', allocated_cost: '0', idle_cost: '7.5', requests: 0 }]);
    expect(await coverage(w)).toMatchObject([{ billed_cost: '7.5', requests: 0 }]);
  });

  it('a billed day whose raw rows retention removed and whose groups are gone is refused with the reason, and nothing is written', async () => {
    await insertBilling(w, [billingLine({ start: DAY0, effective_cost: '12' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 }, { id: 'b', ts: DAY0 + 1 }, { id: 'c', ts: DAY0 + 2 }]);
    await attribute();
    await applyRetention(w, retention, { now: LATER });
    const before = await snapshot(w);
    // The groups are lost (a partition dropped by hand, a restore that missed them).
    await w.command('ALTER TABLE request_hours DROP PARTITION {p:UInt32}', { p: PARTITION });
    const refused = attribute();
    await expect(refused).rejects.toThrow(TrafficRefusedError);
    await expect(refused).rejects.toThrow(/^2026-10-01: not attributed: its raw requests were removed by retention on \d{4}-\d{2}-\d{2} \(3 requests in 1 hourly groups\), and request_hours now holds 0 requests in 0 groups for it; attributing it would count its traffic wrong \(as none, if the groups are gone\)/);
    expect(await snapshot(w)).toEqual(before);
    // Restatement is refused alike: the day keeps its last attribution.
    await insertBilling(w, [billingLine({ start: DAY0, effective_cost: '20' })]);
    await expect(attribute()).rejects.toThrow(/not attributed: its raw requests were removed by retention/);
    expect(await snapshot(w)).toEqual(before);
  });

  it('raw rows arriving for a day retention trimmed are not attributed, and go at its next run', async () => {
    await insertBilling(w, [billingLine({ start: DAY0 })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 }]);
    await attribute();
    await applyRetention(w, retention, { now: LATER });
    const before = await snapshot(w);
    await insertRequests(w, [{ id: 'late', ts: DAY0 + 5 }]);
    const [day] = await attribute();
    expect(day?.note).toBe('1 raw row(s) arrived after retention trimmed the day: not attributed (its hourly groups are its traffic)');
    expect(await snapshot(w)).toEqual(before);
    const again = await applyRetention(w, retention, { now: LATER });
    expect(again.tables[0]?.partitions).toEqual([{ partition: '202610', rows: 1, action: 'dropped', reasons: [] }]);
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(0);
  });

  it('a day without raw rows keeps its groups (they are not emptied), and is refused when they are incomplete', async () => {
    await insertBilling(w, [billingLine({ start: DAY0 })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0, tenant: 'x' }, { id: 'b', ts: DAY0 + 1, tenant: 'y' }]);
    await attribute();
    const first = await snapshot(w);
    // The raw rows removed by other means than retention: the groups are all that is left.
    await w.command('ALTER TABLE inference_requests DROP PARTITION 202610');
    expect(await refreshRequestHours(w, DAY0)).toMatchObject({ source: 'hourly groups (no raw rows)', rebuiltHours: 0 });
    await attribute();
    expect(await snapshot(w)).toEqual(first);
    await w.command("ALTER TABLE request_hours DELETE WHERE tenant_id = 'x'", {}, { mutations_sync: '2' });
    await expect(attribute()).rejects.toThrow(/^2026-10-01: not attributed: it has no raw requests, and its hourly groups in request_hours are incomplete for 1 hour\(s\) \(first 2026-10-01 00:00:00\)/);
  });

  it('stops the run when cost x weight of a pool-period does not fit in 128 bits', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '10000000000000000000000000' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0, gpuMs: 5_000_000 }, { id: 'b', ts: DAY0 + 1, gpuMs: 3_000_000 }]);
    await expect(attribute()).rejects.toThrow(/does not fit in 128 bits/);
  });
});
