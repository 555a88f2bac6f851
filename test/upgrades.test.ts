/**
 * Upgrades: a warehouse at each earlier schema version (sql/migrations,
 * migrated only that far), holding data the way that version could hold it,
 * upgraded to the newest schema and attributed, ties out to its bill exactly
 * and gives the very tables a warehouse created at the newest schema gives.
 *
 * Requests go in through the request writer at every version (the raw table
 * has not changed since 0001). The bill goes in as rows of 0002's columns
 * from 0002 to 0005 (no billing period, scope or recorded import: 0006
 * back-fills them), as a recorded import from 0006 on, and after the upgrade
 * at 0001 (which has no billing table). Before 0017 the hourly groups
 * did not exist: the upgrade fills them, current, from the stored requests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeDay } from '../src/attribution/attribute.js';
import { refreshRequestHours } from '../src/attribution/request-hours.js';
import { formatDateTime64 } from '../src/events/request-event.js';
import { toScaled } from '../src/util/decimal.js';
import { listMigrations, migrate } from '../src/warehouse/migrate.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { settings, snapshot } from './helpers/attribution.js';
import { billingLine, DAY0, HOUR, iso, insertBilling, insertRequests, type TestRequest } from './helpers/data.js';
import { discardWarehouse, freshWarehouse, scalar, testWarehouseConfig } from './helpers/warehouse.js';

const HEAD = Math.max(...listMigrations().map((m) => m.version));
const EARLIER = listMigrations().map((m) => m.version).filter((v) => v < HEAD);
const SETTINGS = settings({ featureTeams: { chat: 'assistant' } });

/** Two pools billed hour by hour (one idle in its second hour), untagged cost, and a bill of 47.5 in all. */
const BILL = [
  { pool: 'gpu-a', hour: 0, cost: '12.25' },
  { pool: 'gpu-a', hour: 1, cost: '12.25' },
  { pool: 'gpu-b', hour: 0, cost: '20' },
  { pool: '', hour: 0, cost: '3' },
] as const;
const BILLED = toScaled('47.5');
const REQUESTS: TestRequest[] = [
  { id: 'r1', ts: DAY0 + 10, pool: 'gpu-a', feature: 'chat', gpuMs: 1200 },
  { id: 'r2', ts: DAY0 + 20, pool: 'gpu-a', feature: 'search', team: 'search', gpuMs: 800, tenant: 't2' },
  { id: 'r3', ts: DAY0 + HOUR + 5, pool: 'gpu-a', feature: 'chat', gpuMs: 400 },
  { id: 'r4', ts: DAY0 + 30, pool: 'gpu-b', feature: 'chat', gpuMs: 0, input: 50 },
  { id: 'r5', ts: DAY0 + 3 * HOUR, pool: 'gpu-b', feature: 'chat' },
];

const lines = () => BILL.map((b, i) => billingLine({ pool: b.pool, start: DAY0 + b.hour * HOUR, effective_cost: b.cost, billed_cost: b.cost, resource_id: `i-${i}` }));

/** The bill as rows of 0002's columns: what a warehouse before 0006 held (one version, no recorded import). */
async function insertBillingBefore0006(w: Warehouse): Promise<void> {
  await w.insertObjects('billing_line_items', lines().map((l, i) => ({
    billing_version: `${formatDateTime64(Date.UTC(2026, 10, 1))}000`, source: 'focus-file', provider: l.provider, billing_account_id: l.billing_account_id,
    sub_account_id: l.sub_account_id, charge_period_start: l.charge_period_start, charge_period_end: l.charge_period_end,
    billed_cost: l.billed_cost, effective_cost: l.effective_cost, list_cost: l.list_cost, billing_currency: l.billing_currency,
    consumed_quantity: l.consumed_quantity, consumed_unit: l.consumed_unit, resource_id: l.resource_id, resource_type: l.resource_type,
    instance_type: l.instance_type, service_name: l.service_name, charge_category: l.charge_category, charge_class: l.charge_class,
    sku_id: l.sku_id, region: l.region, tags: l.tags, pool_id: l.tags['inference-pool'] ?? '', is_estimated: false, source_file: 'test', source_line: i + 1,
  })));
}

const poolRow = z.object({ pool_id: z.string(), billed_cost: z.string(), allocated_cost: z.string(), used_cost: z.string(), idle_cost: z.string(), unallocated_cost: z.string() });

/** allocated (to traffic) + idle (pool-hours without traffic) + unallocated = billed, to the last unit; and used + idle = billed per pool-hour. */
async function tieOut(w: Warehouse): Promise<void> {
  const rows = await w.query('SELECT pool_id, toString(billed_cost) AS billed_cost, toString(allocated_cost) AS allocated_cost, toString(used_cost) AS used_cost, toString(idle_cost) AS idle_cost, toString(unallocated_cost) AS unallocated_cost FROM pool_cost', {}, poolRow);
  const allocated = (await w.query('SELECT toString(cost) AS cost FROM cost_allocation', {}, z.object({ cost: z.string() }))).reduce((a, r) => a + toScaled(r.cost), 0n);
  const idle = rows.filter((r) => r.pool_id !== '' && toScaled(r.allocated_cost) === 0n).reduce((a, r) => a + toScaled(r.idle_cost), 0n);
  const unallocated = rows.reduce((a, r) => a + toScaled(r.unallocated_cost), 0n);
  const billed = rows.reduce((a, r) => a + toScaled(r.billed_cost), 0n);
  expect(billed).toBe(BILLED);
  expect(allocated + idle + unallocated).toBe(billed);
  for (const r of rows.filter((p) => p.pool_id !== '')) expect(toScaled(r.used_cost) + toScaled(r.idle_cost)).toBe(toScaled(r.billed_cost));
}

const open: Warehouse[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => discardWarehouse(w)));
});

describe('upgrades', () => {
  it(`from every earlier schema version (${EARLIER.join(', ')}) to ${HEAD}: the data is kept, ties out, and attributes as at ${HEAD}`, { timeout: 240_000 }, async () => {
    const reference = await freshWarehouse();
    open.push(reference);
    await insertBilling(reference, lines());
    await insertRequests(reference, REQUESTS);
    await attributeDay(reference, SETTINGS, DAY0);
    await tieOut(reference);
    const expected = await snapshot(reference, { acrossWarehouses: true });

    for (const version of EARLIER) {
      const w = await openWarehouse(testWarehouseConfig());
      open.push(w);
      expect((await migrate(w, listMigrations(), { upTo: version })).applied.at(-1)).toMatch(new RegExp(`^${String(version).padStart(4, '0')}_`));
      await insertRequests(w, REQUESTS);
      // A raw duplicate, as two writers at once can leave: counted once at every version.
      await w.command("INSERT INTO inference_requests SELECT * FROM inference_requests WHERE request_id = 'r1'");
      // 0001 holds requests only: its bill comes after the upgrade.
      if (version >= 2 && version < 6) await insertBillingBefore0006(w);
      else if (version >= 6) await insertBilling(w, lines());

      await migrate(w);
      if (version < 2) await insertBilling(w, lines());
      expect(await scalar(w, 'SELECT max(version) AS n FROM schema_migrations FINAL'), `from ${version}`).toBe(HEAD);
      if (version < 17) {
        // The upgrade to 17 filled the hourly groups of the stored requests, current: attribution rebuilds nothing.
        expect(await scalar(w, 'SELECT sum(requests) AS n FROM request_hours'), `from ${version}`).toBe(REQUESTS.length);
        expect(await refreshRequestHours(w, DAY0), `from ${version}`).toMatchObject({ source: 'raw rows', rebuiltHours: 0 });
      } else {
        // Requests written at 17 or later get their groups from attribution's refresh, as they would have without the upgrade.
        expect(await refreshRequestHours(w, DAY0), `from ${version}`).toMatchObject({ source: 'raw rows' });
        expect(await scalar(w, 'SELECT sum(requests) AS n FROM request_hours'), `from ${version}`).toBe(REQUESTS.length);
      }
      await attributeDay(w, SETTINGS, DAY0);
      await tieOut(w);
      expect(await snapshot(w, { acrossWarehouses: true }), `from ${version}`).toEqual(expected);
      expect(await scalar(w, "SELECT count() AS n FROM billing_current WHERE charge_period_start >= {d:DateTime('UTC')}", { d: iso(DAY0) }), `from ${version}`).toBe(BILL.length);
      await discardWarehouse(open.pop() as Warehouse);
    }
  });
});
