/**
 * Owner packs (`report chargeback --owner NAME`) on the real engine: one
 * team's or tenant's pack holds exactly its lines of the month's full pack
 * (every amount the same text), its share of the bill and the full pack's
 * tie-out, under each idle policy; no file of it names another owner; an
 * owner without cost is an error that names nobody; directories are safe,
 * one per owner, and never overwritten. One warehouse for the whole file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import { EXIT, main } from '../src/cli/main.js';
import { configSchema, type Config } from '../src/config/config.js';
import { ReportError } from '../src/report/chargeback.js';
import type { IdlePolicy } from '../src/report/idle-policy.js';
import { ownerDirName } from '../src/report/owner-name.js';
import { runChargebackReport, type ChargebackRun } from '../src/report/run-report.js';
import { toScaled } from '../src/util/decimal.js';
import { parseMonth } from '../src/util/time.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings } from './helpers/attribution.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests, type TestRequest } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { discardWarehouse, freshWarehouse, TEST_DATA_DIR } from './helpers/warehouse.js';

const OCTOBER = parseMonth('2026-10') ?? (() => { throw new Error('month'); })();
const AFTER_OCTOBER = Date.UTC(2026, 11, 1);
const MID_OCTOBER = Date.UTC(2026, 9, 15);

const ACCENTED = 'Équipe Données/ML';
const TEAMS = ['team-orca', 'team-lynx', 'team-puma', ACCENTED];
/** Owns pool gpu-a (idle under --idle owner) and sends no traffic. */
const POOL_OWNER = 'team-platform';
const TENANTS = ['tenant-acme', 'Tenant-Acme', 'tenant-globex', 'tenant-initech', 'tenant-umbrella'];

const attribution: Partial<Config['attribution']> = { pools: { 'gpu-a': { owner: POOL_OWNER } } };
const config = configSchema.parse({ attribution });

let w: Warehouse;
let out: string;

/**
 * gpu-a 10 an hour for four hours, traffic in three (hour 3 all idle, owned
 * by team-platform); gpu-b 4 an hour for three hours, traffic in two; gpu-c 3
 * with no traffic all month; untagged 1.5; gpu-eu 7 EUR. GPU time that splits
 * into repeating decimals, so the exact split is exercised.
 */
beforeAll(async () => {
  w = await freshWarehouse();
  out = tempDir();
  const lines = [0, 1, 2, 3].map((h) => billingLine({ start: DAY0 + h * HOUR, effective_cost: '10', billed_cost: '12' }));
  for (const h of [0, 1, 2]) lines.push(billingLine({ pool: 'gpu-b', start: DAY0 + h * HOUR, effective_cost: '4', billed_cost: '4' }));
  lines.push(billingLine({ pool: 'gpu-c', start: DAY0, effective_cost: '3', billed_cost: '3' }));
  lines.push(billingLine({ pool: 'gpu-eu', start: DAY0, effective_cost: '7', billed_cost: '7', billing_currency: 'EUR' }));
  lines.push(billingLine({ pool: '', start: DAY0, hours: 24, effective_cost: '1.5', billed_cost: '1.5', consumed_unit: 'GB-Mo', instance_type: '' }));
  await insertBilling(w, lines);
  const requests: TestRequest[] = [];
  for (const h of [0, 1, 2]) {
    const ts = DAY0 + h * HOUR;
    requests.push({ id: `o${h}`, ts: ts + 10, team: 'team-orca', tenant: 'tenant-acme', model: 'bge', feature: 'retrieval', gpuMs: 600_000 + h * 1000, input: 100 });
    requests.push({ id: `p${h}`, ts: ts + 20, team: 'team-puma', tenant: 'tenant-initech', model: 'llama', feature: 'summarize', gpuMs: 333_333.333 });
    if (h < 2) {
      requests.push({ id: `l${h}`, ts: ts + 30, pool: 'gpu-b', team: 'team-lynx', tenant: 'tenant-globex', model: 'llama', feature: 'dialogue', gpuMs: 900_000, input: 1000, output: 200 });
      requests.push({ id: `q${h}`, ts: ts + 40, pool: 'gpu-b', team: ACCENTED, tenant: 'tenant-umbrella', model: 'clip', feature: 'ocr', gpuMs: 200_000 + h });
    }
  }
  requests.push({ id: 'p-b', ts: DAY0 + 50, pool: 'gpu-b', team: 'team-puma', tenant: 'tenant-acme', model: 'llama', feature: 'summarize', gpuMs: 100_000, version: 'v2' });
  requests.push({ id: 'e0', ts: DAY0 + 60, pool: 'gpu-eu', team: 'team-orca', tenant: 'Tenant-Acme', model: 'bge', feature: 'retrieval', gpuMs: 123_456.789, input: 7 });
  await insertRequests(w, requests);
  await attributeWindow(w, settings(attribution), new Date(DAY0), new Date(DAY0 + 24 * HOUR));
}, 120_000);

afterAll(async () => {
  await discardWarehouse(w);
});

type Row = Record<string, string>;
const rowsOf = (path: string): Row[] => z.array(z.record(z.string(), z.string())).parse(parse(readFileSync(path, 'utf8'), { columns: true }));

const summarySchema = z.object({
  owners: z.array(z.object({ owner: z.string(), currency: z.string(), requests: z.string(), used_cost: z.string(), idle_cost: z.string(), cost: z.string() })),
  reconciliation: z.array(z.object({ currency: z.string(), billed: z.string(), allocated: z.string(), idle: z.string(), unallocated: z.string(), ties_out: z.boolean() }).loose()),
  owner: z.object({
    name: z.string(), idle: z.string(),
    currencies: z.array(z.object({
      currency: z.string(), requests: z.string(), used_cost: z.string(), idle_cost: z.string(), cost: z.string(),
      billed: z.string(), share_of_billed: z.string(), idle_not_charged: z.string(), full_pack_ties_out: z.boolean(),
    })),
  }).optional(),
});
const summaryOf = (dir: string): z.infer<typeof summarySchema> => summarySchema.parse(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')));

/** AllocatedTags of a FOCUS row; untagged cost has none. */
const tagsOf = (r: Row): Record<string, string> => z.record(z.string(), z.string()).parse(JSON.parse(r.AllocatedTags === undefined || r.AllocatedTags === '' ? '{}' : r.AllocatedTags));

/** numerator / denominator to 6 decimals, half to even: worked out here, not by the code under test. */
function shareText(part: bigint, whole: bigint): string {
  const scaled = part * 1_000_000n;
  let q = scaled / whole;
  const twice = 2n * (scaled % whole);
  if (twice > whole || (twice === whole && q % 2n === 1n)) q += 1n;
  return `${q / 1_000_000n}.${String(q % 1_000_000n).padStart(6, '0')}`;
}

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Every file of a pack, as text: none may hold a name from `others`, raw or as HTML escaped it. */
function expectNoneNamed(dir: string, others: readonly string[]): void {
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const name of others) {
      expect(text.includes(name), `${file} names ${name}`).toBe(false);
      expect(text.includes(escapeHtml(name)), `${file} names ${name} (escaped)`).toBe(false);
    }
  }
}

async function build(by: 'team' | 'tenant', idle: IdlePolicy, owner?: string, options: { outDir?: string; now?: number } = {}): Promise<ChargebackRun> {
  return runChargebackReport(w, config, { month: OCTOBER, by, idle, outDir: options.outDir ?? out, now: options.now ?? AFTER_OCTOBER, ...(owner === undefined ? {} : { owner }) });
}

/** The owner pack against the full pack of the same month and options: the same lines, as text, and the share of the bill. */
async function checkOwnerPack(full: ChargebackRun, by: 'team' | 'tenant', idle: IdlePolicy, owner: string, others: readonly string[]): Promise<void> {
  const run = await build(by, idle, owner);
  expect(run.pack.written).toBe(true);
  expect(run.pack.dir).toBe(join(out, '2026-10', `${by}-${idle}-effective-final-owner-${ownerDirName(owner)}`));
  expect(run.pack.files).toEqual(['chargeback.csv', 'focus-allocated.csv', 'report.html', 'summary.json']);

  // chargeback.csv: exactly the full pack's lines of this owner, cell for cell.
  const fullRows = rowsOf(join(full.pack.dir, 'chargeback.csv'));
  const mine = fullRows.filter((r) => r.owner === owner);
  expect(mine.length).toBeGreaterThan(0);
  expect(rowsOf(join(run.pack.dir, 'chargeback.csv'))).toEqual(mine);

  // summary.json: its owner rows and the bill's reconciliation as in the full pack; its share worked out from the lines.
  const fullSummary = summaryOf(full.pack.dir);
  const summary = summaryOf(run.pack.dir);
  expect(summary.owners).toEqual(fullSummary.owners.filter((o) => o.owner === owner));
  const currencies = [...new Set(mine.map((r) => r.currency))].sort();
  expect(summary.reconciliation).toEqual(fullSummary.reconciliation.filter((r) => currencies.includes(r.currency)));
  expect(summary.owner?.name).toBe(owner);
  expect(summary.owner?.currencies.map((c) => c.currency).sort()).toEqual(currencies);
  for (const c of summary.owner?.currencies ?? []) {
    const lines = mine.filter((r) => r.currency === c.currency);
    const sum = (pick: (r: Row) => string): bigint => lines.reduce((a, r) => a + toScaled(pick(r)), 0n);
    const cost = sum((r) => r.cost ?? '');
    const rec = fullSummary.reconciliation.find((r) => r.currency === c.currency);
    expect(rec?.ties_out).toBe(true);
    expect(c).toEqual({
      currency: c.currency,
      requests: String(lines.reduce((a, r) => a + BigInt(r.requests ?? ''), 0n)),
      used_cost: fullSummary.owners.find((o) => o.owner === owner && o.currency === c.currency)?.used_cost,
      idle_cost: fullSummary.owners.find((o) => o.owner === owner && o.currency === c.currency)?.idle_cost,
      cost: fullSummary.owners.find((o) => o.owner === owner && o.currency === c.currency)?.cost,
      billed: rec?.billed,
      share_of_billed: shareText(cost, toScaled(rec?.billed ?? '')),
      idle_not_charged: rec?.idle,
      full_pack_ties_out: true,
    });
    expect(toScaled(c.cost)).toBe(cost);
    expect(toScaled(c.used_cost) + toScaled(c.idle_cost)).toBe(cost);
  }

  // focus-allocated.csv: the full export's rows tagged with this owner, as they are there.
  const tag = by === 'tenant' ? 'tenant' : 'team';
  const fullFocus = rowsOf(join(full.pack.dir, 'focus-allocated.csv'));
  const focus = rowsOf(join(run.pack.dir, 'focus-allocated.csv'));
  expect(focus).toEqual(fullFocus.filter((r) => tagsOf(r)[tag] === owner));
  expect(focus.length).toBeGreaterThan(0);

  const html = readFileSync(join(run.pack.dir, 'report.html'), 'utf8');
  expect(html).toContain(`<title>Chargeback 2026-10 of ${by} ${escapeHtml(owner)} (final)</title>`);
  expectNoneNamed(run.pack.dir, others);
}

describe('report chargeback --owner', () => {
  const cases: { by: 'team' | 'tenant'; idle: IdlePolicy; owners: string[]; names: string[] }[] = [
    { by: 'team', idle: 'spread', owners: TEAMS, names: [...TEAMS, POOL_OWNER] },
    { by: 'team', idle: 'separate', owners: ['team-orca', 'team-lynx', ACCENTED], names: [...TEAMS, POOL_OWNER] },
    { by: 'team', idle: 'owner', owners: ['team-orca', 'team-lynx', POOL_OWNER], names: [...TEAMS, POOL_OWNER] },
    { by: 'tenant', idle: 'spread', owners: ['tenant-acme', 'Tenant-Acme', 'tenant-initech'], names: TENANTS },
    { by: 'tenant', idle: 'separate', owners: ['Tenant-Acme', 'tenant-umbrella'], names: TENANTS },
  ];
  for (const { by, idle, owners, names } of cases) {
    it(`by ${by}, idle ${idle}: each owner's pack is its lines of the full pack, to the last unit, and names no other owner`, async () => {
      const full = await build(by, idle);
      expect(full.report.owner).toBeUndefined();
      for (const owner of owners) await checkOwnerPack(full, by, idle, owner, names.filter((n) => n !== owner));
    });
  }

  it('charges idle as the policy says: spread shares, none when kept separate, the owned pool\'s under owner', () => {
    const idleOf = (dir: string): string[] => rowsOf(join(dir, 'chargeback.csv')).map((r) => r.idle_cost ?? '');
    const spread = summaryOf(join(out, '2026-10', 'team-spread-effective-final-owner-team-orca'));
    expect(spread.owner?.idle).toMatch(/^idle spread: .* not charged to team team-orca$/);
    // gpu-c had no traffic all month: the (idle) line of 3, not charged to anyone's pack.
    expect(spread.owner?.currencies.find((c) => c.currency === 'USD')?.idle_not_charged).toBe('3.000000000000');
    expect(idleOf(join(out, '2026-10', 'team-spread-effective-final-owner-team-orca')).some((v) => toScaled(v) > 0n)).toBe(true);

    const separate = summaryOf(join(out, '2026-10', 'team-separate-effective-final-owner-team-orca'));
    expect(separate.owner?.idle).toMatch(/^idle kept separate: .*not charged to team team-orca$/);
    expect(idleOf(join(out, '2026-10', 'team-separate-effective-final-owner-team-orca')).every((v) => v === '0.000000000000')).toBe(true);
    const separateFull = summaryOf(join(out, '2026-10', 'team-separate-effective-final'));
    expect(separate.owner?.currencies.find((c) => c.currency === 'USD')?.idle_not_charged).toBe(separateFull.reconciliation.find((r) => r.currency === 'USD')?.idle);
    // Kept separate, the owner's FOCUS rows are its used cost: they sum to its chargeback cost.
    const focus = rowsOf(join(out, '2026-10', 'team-separate-effective-final-owner-team-orca', 'focus-allocated.csv'));
    for (const c of separate.owner?.currencies ?? []) {
      expect(focus.filter((r) => r.BillingCurrency === c.currency).reduce((a, r) => a + toScaled(r.EffectiveCost ?? ''), 0n)).toBe(toScaled(c.cost));
    }

    const platform = join(out, '2026-10', 'team-owner-effective-final-owner-team-platform');
    expect(rowsOf(join(platform, 'chargeback.csv')).map((r) => [r.owner, r.model_id, r.feature_id])).toEqual([[POOL_OWNER, '(idle)', 'gpu-a']]);
    expect(rowsOf(join(platform, 'focus-allocated.csv')).map((r) => [r.AllocatedMethodId, r.ResourceId])).toEqual([['inferledger-idle-capacity', 'gpu-a']]);
    // Pool owners other than the pack's own are not in the pack: team-orca's names no pool owner.
    expect(readFileSync(join(out, '2026-10', 'team-owner-effective-final-owner-team-orca', 'summary.json'), 'utf8')).not.toContain(POOL_OWNER);
  });

  it('an owner with no cost in the month is an error naming no other owner, and nothing is written', async () => {
    const before = readdirSync(join(out, '2026-10')).sort();
    for (const [owner, idle] of [['team-nobody', 'separate'], [POOL_OWNER, 'spread'], ['TEAM-ORCA', 'spread']] as const) {
      const error = await build('team', idle, owner).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ReportError);
      expect((error as Error).message).toBe(`team ${JSON.stringify(owner)} has no cost in 2026-10 (by team, idle ${idle}, effective basis); nothing was written`);
    }
    expect(readdirSync(join(out, '2026-10')).sort()).toEqual(before);

    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: w.database } };
    const cli = tempDir();
    expect(await main(['report', 'chargeback', '--month', '2026-10', '--by', 'tenant', '--owner', 'tenant-nobody', '--out', cli], io)).toBe(EXIT.failed);
    expect(lines.join('\n')).toContain('tenant "tenant-nobody" has no cost in 2026-10');
    for (const name of [...TENANTS, ...TEAMS]) expect(lines.join('\n')).not.toContain(name);
    // The report's own lines are nobody's pack: a usage error.
    expect(await main(['report', 'chargeback', '--month', '2026-10', '--by', 'team', '--owner', '(idle)', '--out', cli], io)).toBe(EXIT.usage);
    expect(await main(['report', 'chargeback', '--month', '2026-10', '--by', 'team', '--owner', '', '--out', cli], io)).toBe(EXIT.usage);
    expect(readdirSync(cli)).toEqual([]);

    lines.length = 0;
    expect(await main(['report', 'chargeback', '--month', '2026-10', '--by', 'team', '--idle', 'separate', '--owner', 'team-lynx', '--out', cli], io)).toBe(EXIT.ok);
    const said = lines.join('\n');
    expect(said).toContain(`pack written to ${join(cli, '2026-10', 'team-separate-effective-final-owner-team-lynx')}`);
    expect(said).toMatch(/USD: team "team-lynx" \d+\.\d{12} \(used \d+\.\d{12} \+ idle 0\.000000000000\) of billed 56\.500000000000, share 0\.\d{6}/);
    for (const name of [...TEAMS, POOL_OWNER].filter((n) => n !== 'team-lynx')) expect(said).not.toContain(name);
  });

  it('names directories safely, one per owner even where case folds, and never overwrites', async () => {
    expect(ownerDirName('team-orca')).toBe('team-orca');
    expect(ownerDirName(ACCENTED)).toMatch(/^equipe_donnees_ml~[0-9a-f]{16}$/);
    expect(ownerDirName('Tenant-Acme')).toMatch(/^tenant-acme~[0-9a-f]{16}$/);
    expect(ownerDirName('../x')).toMatch(/^x~[0-9a-f]{16}$/);
    expect(ownerDirName('a'.repeat(300)).length).toBeLessThanOrEqual(65);
    expect(new Set(['a/b', 'a_b', 'a b', 'A_B', `a_b~${'0'.repeat(16)}`].map(ownerDirName)).size).toBe(5);
    const dirs = readdirSync(join(out, '2026-10'));
    expect(dirs).toContain(`team-spread-effective-final-owner-${ownerDirName(ACCENTED)}`);
    expect(dirs.filter((d) => d.startsWith('tenant-spread-effective-final-owner-tenant-acme'))).toHaveLength(2);

    const again = await build('team', 'spread', 'team-orca');
    expect(again.pack).toEqual({ dir: join(out, '2026-10', 'team-spread-effective-final-owner-team-orca'), written: false, files: [] });
  });

  it('a final owner pack takes its delta from the owner\'s estimated pack only, never from the month\'s full pack', async () => {
    const dir = tempDir();
    await build('team', 'separate', undefined, { outDir: dir, now: MID_OCTOBER });
    const estimated = await build('team', 'separate', 'team-orca', { outDir: dir, now: MID_OCTOBER });
    expect(estimated.report.status).toBe('estimated');
    expect(estimated.pack.dir).toBe(join(dir, '2026-10', 'team-separate-effective-estimated-owner-team-orca'));

    const orca = await build('team', 'separate', 'team-orca', { outDir: dir });
    expect(orca.pack.files).toContain('delta.csv');
    const delta = rowsOf(join(orca.pack.dir, 'delta.csv'));
    expect(delta.map((d) => d.owner)).toEqual(['team-orca', 'team-orca']);
    for (const d of delta) expect(d.delta_cost).toBe('0.000000000000');
    // team-lynx has no estimated pack of its own: no delta, though the month's full estimated pack is beside it.
    const lynx = await build('team', 'separate', 'team-lynx', { outDir: dir });
    expect(lynx.pack.files).not.toContain('delta.csv');
    expectNoneNamed(lynx.pack.dir, [...TEAMS, POOL_OWNER].filter((n) => n !== 'team-lynx'));
  });
});
