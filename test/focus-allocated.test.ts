/**
 * focus-allocated.csv against the FOCUS 1.3 column rules (test/helpers/
 * focus-rules.ts), on a real pack under both cost bases: every mandatory
 * column present (and those split cost allocation makes mandatory), every
 * row's nulls, types, allowed values and rules between columns, the
 * allocation columns' null rules, what the bill gives the account, provider,
 * service category and quantity columns, and the split: per pool and
 * currency the allocated rows sum to the bill on every cost column and in
 * quantity, exactly, whichever column the month was attributed on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import type { BillingRow } from '../src/billing/billing-row.js';
import { configSchema, type Config } from '../src/config/config.js';
import type { IdlePolicy } from '../src/report/idle-policy.js';
import { runChargebackReport } from '../src/report/run-report.js';
import { toScaled } from '../src/util/decimal.js';
import { parseMonth } from '../src/util/time.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings } from './helpers/attribution.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests, type TestRequest } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { FOCUS_RULES, focusViolations, SPLIT_COST_ALLOCATION_COLUMNS } from './helpers/focus-rules.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';

const OCTOBER = parseMonth('2026-10') ?? (() => { throw new Error('month'); })();
const NOVEMBER = parseMonth('2026-11') ?? (() => { throw new Error('month'); })();
const AFTER_OCTOBER = Date.UTC(2026, 11, 1);
const NOV0 = Date.UTC(2026, 10, 1);
/** The columns split alike: every cost column and the quantity. */
const AMOUNTS = ['BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost', 'PricingQuantity'] as const;

/**
 * A month with every case of the split: gpu-a (1 GPU, known capacity) with
 * billed != effective, an hour whose usage is covered (effective 9, billed
 * 0), a purchase hour (billed 30, effective 0), a credit, an hour used past
 * capacity and an hour without traffic; gpu-b with unknown capacity split by
 * tokens over a two-hour line; gpu-c without traffic; a EUR pool; untagged
 * storage. GPU times leave remainders, so every split rounds.
 */
function bill(): BillingRow[] {
  const a = (h: number, effective: string, billed: string, list: string, rest: Partial<BillingRow> = {}): BillingRow =>
    billingLine({ start: DAY0 + h * HOUR, effective_cost: effective, billed_cost: billed, list_cost: list, ...rest });
  const noQuantity = { consumed_quantity: '0', consumed_unit: '', instance_type: '' };
  return [
    a(0, '10', '12.345678901234', '15'),
    a(1, '10', '12.345678901234', '15'),
    a(1, '-1', '-1.2', '-1.5', { charge_category: 'Credit', ...noQuantity }),
    a(2, '10', '12.345678901234', '15'),
    a(3, '9', '0', '15'),
    a(4, '10', '12.345678901234', '15'),
    a(4, '0', '30', '0', { charge_category: 'Purchase', charge_frequency: 'One-Time', ...noQuantity }),
    a(5, '10', '12', '15'),
    billingLine({ pool: 'gpu-b', start: DAY0, hours: 2, effective_cost: '4', billed_cost: '5', list_cost: '6', instance_type: '' }),
    billingLine({ pool: 'gpu-c', start: DAY0, effective_cost: '3', billed_cost: '3.3', list_cost: '4' }),
    billingLine({ pool: 'gpu-eu', start: DAY0, effective_cost: '2.5', billed_cost: '2.75', list_cost: '3', billing_currency: 'EUR' }),
    billingLine({ pool: '', start: DAY0, hours: 24, effective_cost: '1.5', billed_cost: '2', list_cost: '2', service_name: 'S3', consumed_unit: 'GB-Mo', instance_type: '' }),
  ];
}

/**
 * November: pool gpu-m billed to two accounts, its instance in Hours and a
 * volume tagged with the pool in GB-Mo (quantities that do not add up).
 */
function novemberBill(): BillingRow[] {
  return [
    billingLine({ pool: 'gpu-m', start: NOV0, effective_cost: '5', billed_cost: '5', list_cost: '6', billing_account_id: '222' }),
    billingLine({
      pool: 'gpu-m', start: NOV0, effective_cost: '3', billed_cost: '3', list_cost: '3', billing_account_id: '111',
      consumed_quantity: '100', consumed_unit: 'GB-Mo', instance_type: '', resource_id: 'vol-1', resource_type: 'Volume', service_name: 'EBS',
    }),
  ];
}

function traffic(): TestRequest[] {
  const requests: TestRequest[] = [];
  for (let h = 0; h < 5; h++) {
    const ts = DAY0 + h * HOUR;
    requests.push({ id: `s${h}`, ts: ts + 10, team: 'search', tenant: 'acme', model: 'bge', feature: 'search', gpuMs: 600_000 + h * 1000 });
    requests.push({ id: `c${h}`, ts: ts + 20, team: 'chat', tenant: 'globex', model: 'llama', feature: 'chat', gpuMs: 900_000 });
    requests.push({ id: `d${h}`, ts: ts + 30, team: 'chat', tenant: 'initech', model: 'llama', feature: 'summarize', version: 'v2', gpuMs: 333_333.333 });
  }
  // Hour 2 uses more GPU time than the hour paid for (batching): used cost is capped at the hour's cost.
  requests.push({ id: 'big', ts: DAY0 + 2 * HOUR + 40, team: 'search', tenant: 'acme', model: 'bge', feature: 'search', gpuMs: 3_000_000 });
  requests.push({ id: 'b1', ts: DAY0 + 50, pool: 'gpu-b', team: 'search', tenant: 'acme', model: 'bge', feature: 'search', input: 100, output: 1 });
  requests.push({ id: 'b2', ts: DAY0 + 60, pool: 'gpu-b', team: 'chat', tenant: 'globex', model: 'llama', feature: 'chat', input: 1000, output: 333 });
  requests.push({ id: 'e1', ts: DAY0 + 70, pool: 'gpu-eu', team: 'chat', tenant: 'globex', model: 'llama', feature: 'chat', gpuMs: 123_456.789 });
  return requests;
}

const ATTRIBUTION: Partial<Config['attribution']> = { pools: { 'gpu-b': { weightBasis: 'tokens' } } };

type Row = Record<string, string>;
interface Pack { header: string[]; rows: Row[] }

let w: Warehouse;
const packs = new Map<string, Pack>();
const key = (basis: string, idle: IdlePolicy): string => `${basis}/${idle}`;
let november: Pack;

function readPack(dir: string): Pack {
  const text = readFileSync(join(dir, 'focus-allocated.csv'), 'utf8');
  const header = z.array(z.array(z.string())).parse(parse(text, { to_line: 1 }))[0] ?? [];
  return { header, rows: z.array(z.record(z.string(), z.string())).parse(parse(text, { columns: true })) };
}

beforeAll(async () => {
  w = await freshWarehouse();
  await insertBilling(w, [...bill(), ...novemberBill()]);
  await insertRequests(w, [...traffic(), { id: 'm1', ts: NOV0 + 10, pool: 'gpu-m', team: 'search', tenant: 'acme', model: 'bge', feature: 'search', gpuMs: 600_000 }]);
  const out = tempDir();
  const config = configSchema.parse({ attribution: { pools: { ...ATTRIBUTION.pools, 'gpu-a': { owner: 'platform' } } } });
  for (const basis of ['effective', 'billed'] as const) {
    await attributeWindow(w, settings({ ...ATTRIBUTION, costBasis: basis }), new Date(DAY0), new Date(DAY0 + 24 * HOUR));
    for (const idle of ['separate', 'owner'] as const) {
      const { pack } = await runChargebackReport(w, config, { month: OCTOBER, by: 'team', idle, basis, outDir: out, now: AFTER_OCTOBER });
      packs.set(key(basis, idle), readPack(pack.dir));
    }
  }
  await attributeWindow(w, settings({ ...ATTRIBUTION, costBasis: 'effective' }), new Date(NOV0), new Date(NOV0 + HOUR));
  november = readPack((await runChargebackReport(w, config, { month: NOVEMBER, by: 'team', idle: 'separate', basis: 'effective', outDir: out, now: Date.UTC(2027, 0, 1) })).pack.dir);
});
afterAll(async () => {
  await discardWarehouse(w);
});

function packOf(basis: string, idle: IdlePolicy): Pack {
  const pack = packs.get(key(basis, idle));
  if (!pack) throw new Error(`no pack ${key(basis, idle)}`);
  return pack;
}

const CASES = [['effective', 'separate'], ['effective', 'owner'], ['billed', 'separate'], ['billed', 'owner']] as const;

describe('focus-allocated.csv follows the FOCUS 1.3 column rules', () => {
  it.each(CASES)('%s basis, idle %s: every mandatory column, and those of split cost allocation, is there', (basis, idle) => {
    const { header } = packOf(basis, idle);
    const mandatory = FOCUS_RULES.filter((r) => r.level === 'mandatory').map((r) => r.id);
    expect(mandatory.filter((c) => !header.includes(c))).toEqual([]);
    expect(SPLIT_COST_ALLOCATION_COLUMNS.filter((c) => !header.includes(c))).toEqual([]);
    expect(new Set(header).size).toBe(header.length);
  });

  it.each(CASES)('%s basis, idle %s: every row has its nulls, types and allowed values', (basis, idle) => {
    const { header, rows } = packOf(basis, idle);
    expect(rows.length).toBeGreaterThan(10);
    expect(focusViolations(header, rows)).toEqual([]);
  });

  it.each(CASES)('%s basis, idle %s: the allocation columns are null exactly where FOCUS says', (basis, idle) => {
    for (const r of packOf(basis, idle).rows) {
      const label = JSON.stringify(r);
      // § AllocatedMethodId, AllocatedMethodDetails, AllocatedTags, AllocatedResourceId: null when the charge is not part of a split
      // (untagged cost is not split); AllocatedMethodId not null when it is (every pool's cost is split).
      const split = r['ResourceId'] !== '';
      expect(r['AllocatedMethodId'] !== '', label).toBe(split);
      if (!split) for (const c of ['AllocatedMethodDetails', 'AllocatedResourceId', 'AllocatedTags']) expect(r[c], label).toBe('');
      // § AllocatedResourceId: null on the unallocated portion of the origin charge (idle no owner carries), not null on an allocated portion.
      const allocated = r['AllocatedMethodId'] === 'inferledger-gpu-time-used' || (r['AllocatedMethodId'] === 'inferledger-idle-capacity' && idle === 'owner' && r['ResourceId'] === 'gpu-a');
      expect(r['AllocatedResourceId'] !== '', label).toBe(allocated);
      // § AllocatedResourceName: null iff AllocatedResourceId is.
      expect(r['AllocatedResourceName'] !== '', label).toBe(allocated);
    }
  });

  it.each(CASES)('%s basis, idle %s: per pool and currency the rows sum to the bill on every cost column and in quantity, exactly', (basis, idle) => {
    // § Data Generator-Calculated Split Cost Allocation Handling: summable metrics of the allocated charges sum to the origin charge.
    // § Contracted Cost: the bill has no contracted price, so ListCost, and a Credit's BilledCost.
    const want = new Map<string, bigint>();
    for (const line of bill()) {
      const pool = line.tags['inference-pool'] ?? '';
      const contracted = line.charge_category === 'Credit' ? line.billed_cost : line.list_cost;
      const amounts = [['BilledCost', line.billed_cost], ['EffectiveCost', line.effective_cost], ['ListCost', line.list_cost], ['ContractedCost', contracted],
        ['PricingQuantity', line.consumed_quantity]] as const;
      for (const [column, amount] of amounts) {
        const k = `${pool}/${line.billing_currency}/${column}`;
        want.set(k, (want.get(k) ?? 0n) + toScaled(amount));
      }
    }
    const have = new Map<string, bigint>();
    for (const r of packOf(basis, idle).rows) {
      for (const column of AMOUNTS) {
        const k = `${r['ResourceId'] ?? ''}/${r['BillingCurrency'] ?? ''}/${column}`;
        have.set(k, (have.get(k) ?? 0n) + toScaled(r[column] ?? ''));
      }
    }
    expect(Object.fromEntries([...have].map(([k, v]) => [k, String(v)]))).toEqual(Object.fromEntries([...want].map(([k, v]) => [k, String(v)])));
    // Where no line is a credit, ContractedCost is ListCost on every row: equal amounts are split alike.
    for (const r of packOf(basis, idle).rows.filter((x) => x['ResourceId'] !== 'gpu-a')) expect(r['ContractedCost'], JSON.stringify(r)).toBe(r['ListCost']);
    expect(packOf(basis, idle).rows.some((r) => r['ResourceId'] === 'gpu-a' && r['ContractedCost'] !== r['ListCost'])).toBe(true);
  });

  it.each(CASES)('%s basis, idle %s: account, providers, service category and pricing unit come from the bill', (basis, idle) => {
    for (const r of packOf(basis, idle).rows) {
      const label = JSON.stringify(r);
      // Every line of the month is account 111 of AWS; no host or issuer other than the provider is on the bill (§ Host Provider Name:
      // equal to ServiceProviderName when no separate host is selected or exposed).
      expect([r['BillingAccountId'], r['ServiceProviderName'], r['HostProviderName'], r['InvoiceIssuerName']], label).toEqual(['111', 'AWS', 'AWS', 'AWS']);
      // A pool's rows are model inference; untagged cost is the bill's service, whose category the bill does not keep.
      expect(r['ServiceCategory'], label).toBe(r['ResourceId'] === '' ? 'Other' : 'AI and Machine Learning');
      // The pools' lines are in Hours (credits and purchases have no quantity), the untagged storage in GB-Mo.
      expect(r['PricingUnit'], label).toBe(r['ResourceId'] === '' ? 'GB-Mo' : 'Hours');
    }
  });

  it('a pool billed to several accounts is under the one billed most; quantities in several units are left null', () => {
    const rows = november.rows.filter((r) => r['ResourceId'] === 'gpu-m');
    expect(rows.map((r) => r['AllocatedMethodId']).sort()).toEqual(['inferledger-gpu-time-used', 'inferledger-idle-capacity']);
    for (const r of rows) {
      expect([r['BillingAccountId'], r['ServiceProviderName'], r['PricingQuantity'], r['PricingUnit']], JSON.stringify(r)).toEqual(['222', 'AWS', '', '']);
    }
    // FOCUS wants a quantity on every Usage row: this pool's rows are the known exception, and the only breach.
    expect(focusViolations(november.header, november.rows)).toEqual(november.rows.map((_, i) => `row ${i + 1}: PricingQuantity null on a Usage charge`));
    for (const column of AMOUNTS.filter((c) => c !== 'PricingQuantity')) {
      const sum = rows.reduce((a, r) => a + toScaled(r[column] ?? ''), 0n);
      expect(sum, column).toBe(toScaled({ BilledCost: '8', EffectiveCost: '8', ListCost: '9', ContractedCost: '9' }[column]));
    }
  });

  it.each(['separate', 'owner'] as const)('idle %s: each row has the same amounts on both bases: every column is split by the weights of the one attributed', (idle) => {
    const amounts = (basis: string): Map<string, string> => new Map(packOf(basis, idle).rows.map((r) => [
      [r['BillingCurrency'], r['ResourceId'], r['AllocatedMethodId'], r['AllocatedResourceId'], r['AllocatedTags'], r['ServiceName']].join('|'),
      AMOUNTS.map((c) => r[c]).join('|'),
    ]));
    const effective = amounts('effective');
    expect(effective.size).toBe(packOf('effective', idle).rows.length);
    expect(amounts('billed')).toEqual(effective);
  });
});
