/**
 * What report.html states about the month, on the real engine: the savings
 * section says when it cannot tell whether a pool's utilisation is low (GPU
 * capacity unknown), names those pools and how to make it known; and each
 * section's badge says why an estimated month is estimated, every reason
 * that holds and none that does not.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import { configSchema, type Config } from '../src/config/config.js';
import { runChargebackReport } from '../src/report/run-report.js';
import { parseMonth } from '../src/util/time.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings } from './helpers/attribution.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';

let w: Warehouse;
beforeEach(async () => {
  w = await freshWarehouse();
});
afterEach(async () => {
  await discardWarehouse(w);
});

const OCTOBER = parseMonth('2026-10') ?? (() => { throw new Error('month'); })();
const AFTER_OCTOBER = Date.UTC(2026, 11, 1);
const FIX_COMMAND = 'inferledger attribute --from 2026-10-01 --to 2026-11-01';

function config(attribution: Partial<Config['attribution']> = {}): Config {
  return configSchema.parse({ attribution });
}

async function attribute(attribution: Partial<Config['attribution']> = {}): Promise<void> {
  await attributeWindow(w, settings(attribution), new Date(DAY0), new Date(DAY0 + 24 * HOUR));
}

/** Text as a reader sees it: tags gone, entities decoded, spaces collapsed. */
function text(html: string): string {
  return html.replace(/<[^>]*>/g, ' ')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&middot;/g, '·').replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ').trim();
}

interface Page { html: string; savings: string; badges: string[] }

/** Build the month's pack (team, separate) and read its report.html: the USD savings section and every section badge. */
async function reportPage(attribution: Partial<Config['attribution']> = {}, now = AFTER_OCTOBER): Promise<Page & { reasons: string[] }> {
  const { pack, report } = await runChargebackReport(w, config(attribution), { month: OCTOBER, by: 'team', idle: 'separate', outDir: tempDir(), now });
  const html = readFileSync(join(pack.dir, 'report.html'), 'utf8');
  const savings = /<h2>Savings, USD[\s\S]*?(?=<h3>Model versions)/.exec(html)?.[0];
  if (savings === undefined) throw new Error('no savings section for USD');
  // The badges of the currency's sections (the method section's says the status only).
  const badges = [...html.matchAll(/<h2>([^<]*)<span class="badge [a-z]+">([^<]*)<\/span><\/h2>/g)].filter((m) => !(m[1] ?? '').startsWith('Method')).map((m) => text(m[2] ?? ''));
  return { html, savings: text(savings), badges, reasons: report.statusReasons };
}

describe('report.html: low utilisation', () => {
  it('says it could not tell when no pool has a known GPU capacity, names the pools and the fix, and the fix works', async () => {
    // No instance type on the bill: GPU capacity, and so utilisation, is unknown for both pools.
    await insertBilling(w, [
      billingLine({ effective_cost: '10', instance_type: '' }),
      billingLine({ pool: 'gpu-b', effective_cost: '4', instance_type: '' }),
    ]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 + 1, team: 'search', gpuMs: 360_000 }, { id: 'b', ts: DAY0 + 2, pool: 'gpu-b', team: 'chat', gpuMs: 360_000 }]);
    await attribute();
    const unknown = await reportPage();
    expect(unknown.savings).not.toContain('None this month');
    expect(unknown.savings).toContain('Could not tell: utilisation is unknown for every pool (gpu-a, gpu-b).');
    expect(unknown.savings).toContain('Their GPU capacity is unknown: the bill names no instance type the GPU catalog knows for them');
    expect(unknown.savings).toContain(
      'To tell, set attribution.pools.gpu-a.gpusPerInstance, attribution.pools.gpu-b.gpusPerInstance (GPUs per billed instance) in the configuration, ' +
        `or bill with an instance type the GPU catalog knows, then attribute the month again (${FIX_COMMAND}).`,
    );

    // Doing what it says: both pools known, one GPU each for the hour, 10 % used; both low, nothing unknown.
    const pools = { 'gpu-a': { gpusPerInstance: 1 }, 'gpu-b': { gpusPerInstance: 1 } };
    await attribute({ pools });
    const known = await reportPage({ pools });
    expect(known.savings).not.toContain('unknown');
    expect(known.savings).not.toContain('gpusPerInstance');
    expect(known.savings).toMatch(/gpu-a 10\.00 % .* gpu-b 10\.00 %/);
  });

  it('with some pools known and some not: lists the low ones and names the unknown ones', async () => {
    // gpu-a: one GPU (g6.xlarge), 10 % used (low); gpu-c: one GPU, 83 % used; gpu-b: no instance type (unknown).
    await insertBilling(w, [
      billingLine({ effective_cost: '10' }),
      billingLine({ pool: 'gpu-b', effective_cost: '4', instance_type: '' }),
      billingLine({ pool: 'gpu-c', effective_cost: '2' }),
    ]);
    await insertRequests(w, [
      { id: 'a', ts: DAY0 + 1, team: 'search', gpuMs: 360_000 },
      { id: 'b', ts: DAY0 + 2, pool: 'gpu-b', team: 'chat', gpuMs: 360_000 },
      { id: 'c', ts: DAY0 + 3, pool: 'gpu-c', team: 'chat', gpuMs: 3_000_000 },
    ]);
    await attribute();
    const page = await reportPage();
    const low = /<h3>Pools with low utilisation[\s\S]*?<\/table>/.exec(page.html)?.[0] ?? '';
    expect(text(low)).toMatch(/gpu-a 10\.00 %/);
    expect(low).not.toContain('gpu-b');
    expect(low).not.toContain('gpu-c');
    expect(page.savings).not.toContain('None');
    expect(page.savings).not.toContain('Could not tell');
    expect(page.savings).toContain(
      'Utilisation unknown for gpu-b, which may be low too. Its GPU capacity is unknown: the bill names no instance type the GPU catalog knows for it, ' +
        'and the configuration gives no GPU count. To tell, set attribution.pools.gpu-b.gpusPerInstance (GPUs per billed instance) in the configuration, ' +
        `or bill with an instance type the GPU catalog knows, then attribute the month again (${FIX_COMMAND}).`,
    );
    expect(page.savings).not.toContain('gpu-a.gpusPerInstance');
  });

  it('with no known pool low and some unknown: "none" only of the known ones, and names the unknown ones', async () => {
    await insertBilling(w, [billingLine({ pool: 'gpu-c', effective_cost: '2' }), billingLine({ pool: 'gpu-b', effective_cost: '4', instance_type: 'x9.unknown' })]);
    await insertRequests(w, [{ id: 'b', ts: DAY0 + 2, pool: 'gpu-b', team: 'chat' }, { id: 'c', ts: DAY0 + 3, pool: 'gpu-c', team: 'chat', gpuMs: 3_000_000 }]);
    await attribute();
    const page = await reportPage();
    expect(page.savings).not.toContain('None this month');
    expect(page.savings).toContain('None of the pools whose utilisation is known (gpu-c).');
    expect(page.savings).toContain('Utilisation unknown for gpu-b, which may be low too.');
    expect(page.savings).toContain('set attribution.pools.gpu-b.gpusPerInstance');
  });
});

describe('report.html: why a month is estimated', () => {
  it('a month estimated only because requests wait for their bill says so on every badge, and nothing else', async () => {
    // The final bill covers hour 0; 240 requests ran in hour 5, which has no bill yet.
    await insertBilling(w, [billingLine({ effective_cost: '10' })]);
    const waiting = Array.from({ length: 240 }, (_, i) => ({ id: `late-${i}`, ts: DAY0 + 5 * HOUR + i, team: 'chat' }));
    await insertRequests(w, [{ id: 'billed', ts: DAY0 + 1, team: 'search' }, ...waiting]);
    await attribute();
    const page = await reportPage();
    expect(page.reasons).toEqual(['240 requests are in hours the bill does not cover yet']);
    // Reconciliation, cost per team, top models, daily CPP, pools, savings.
    expect(page.badges).toEqual(Array.from({ length: 6 }, () => 'estimated · 0.00 % of cost estimated · 240 requests await their bill'));
    const summary = z.object({ status: z.string(), status_reasons: z.array(z.string()) }).parse(JSON.parse(readFileSync(join(
      (await runChargebackReport(w, config(), { month: OCTOBER, by: 'team', idle: 'spread', outDir: tempDir(), now: AFTER_OCTOBER })).pack.dir, 'summary.json'), 'utf8')));
    expect(summary).toEqual({ status: 'estimated', status_reasons: ['240 requests are in hours the bill does not cover yet'] });

    // Built before the month is over: that reason too.
    const early = await reportPage({}, Date.UTC(2026, 9, 20));
    expect(new Set(early.badges)).toEqual(new Set(['estimated · 0.00 % of cost estimated · month not over yet · 240 requests await their bill']));
  });

  it('a month estimated because of estimated billing gives the share, and no reason that does not hold', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '10', is_estimated: true }), billingLine({ pool: '', effective_cost: '1', instance_type: '' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 + 1, team: 'search' }]);
    await attribute();
    const page = await reportPage();
    expect(new Set(page.badges)).toEqual(new Set(['estimated · 90.91 % of cost estimated']));
  });

  it('a final month: the badge says final and nothing estimated', async () => {
    await insertBilling(w, [billingLine({ effective_cost: '10' })]);
    await insertRequests(w, [{ id: 'a', ts: DAY0 + 1, team: 'search' }]);
    await attribute();
    const page = await reportPage();
    expect(new Set(page.badges)).toEqual(new Set(['final · 0.00 % of cost estimated']));
  });
});
