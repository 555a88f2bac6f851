/**
 * The chargeback pack names the rate-card versions behind a month, on the
 * real engine: each version's pool, card in words, author, time and reason,
 * and the hours it holds that count with their exact cost, in summary.json
 * and report.html (the reason escaped); a cloud bill's hours are the bill's,
 * not the card's; an owner pack names only the cards of its own pools; the
 * pack still ties out.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import { configSchema, type Config } from '../src/config/config.js';
import { setRateCard } from '../src/pricing/pricing.js';
import { runChargebackReport } from '../src/report/run-report.js';
import { fixed, toScaled } from '../src/util/decimal.js';
import { parseMonth } from '../src/util/time.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings } from './helpers/attribution.js';
import { focusViolations } from './helpers/focus-rules.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests, type TestRequest } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';

const DAY = 24 * HOUR;
const OCT1 = DAY0;
const NOV1 = Date.UTC(2026, 10, 1);
// Set after October is over and settled, so the card's lines cover the whole month, final.
const NOV10 = NOV1 + 9 * DAY;
const AFTER_OCTOBER = Date.UTC(2026, 11, 1);
const OCTOBER = parseMonth('2026-10') ?? (() => { throw new Error('month'); })();
const POOL = 'onprem-a100';
const REASON = 'vendor discount from the 15th (PO <4711> & co)';

let w: Warehouse;
let out: string;
let config: Config;
beforeEach(async () => {
  w = await freshWarehouse();
  out = tempDir();
  config = configSchema.parse({});
});
afterEach(async () => {
  await discardWarehouse(w);
});

/** 8 GPUs at 2.40 per GPU-hour from October 1 (by alice), repriced to 2.00 from October 15 (by bob, with REASON). */
async function setCards(): Promise<string[]> {
  const card = { pool: POOL, perGpuHour: '2.40', currency: 'USD', gpus: 8, from: '2026-10-01T00:00Z', reason: 'contract 2026' };
  const first = await setRateCard(w, config, card, { now: NOV10, by: 'alice' });
  const second = await setRateCard(w, config, { ...card, perGpuHour: '2.00', from: '2026-10-15T00:00Z', reason: REASON }, { now: NOV10 + HOUR, by: 'bob' });
  return [first.change.changeId, second.change.changeId];
}

/** One request a day on the card's pool (team search), and, with `cloudPool`, one a day on a cloud-billed pool (team ads). */
async function seedRequests(cloudPool?: string): Promise<void> {
  const requests: TestRequest[] = [];
  for (let d = 0; d < 31; d++) {
    requests.push({ id: `s${d}`, ts: OCT1 + d * DAY + 5 * HOUR, pool: POOL, team: 'search', gpuMs: 600_000 });
    if (cloudPool !== undefined) requests.push({ id: `a${d}`, ts: OCT1 + d * DAY + 5 * HOUR, pool: cloudPool, team: 'ads', gpuMs: 100_000 });
  }
  await insertRequests(w, requests);
}

const summarySchema = z.object({
  cost_basis: z.string(),
  status: z.string(),
  reconciliation: z.array(z.object({ currency: z.string(), billed: z.string(), allocated: z.string(), idle: z.string(), unallocated: z.string(), ties_out: z.boolean() })),
  rate_cards: z.array(z.object({
    pool: z.string(), change_id: z.string(), card: z.string(), changed_at: z.string(), changed_by: z.string(), reason: z.string(),
    hours: z.number(), cost: z.string(), currency: z.string(),
  })).optional(),
});

function readSummary(dir: string): z.infer<typeof summarySchema> {
  return summarySchema.parse(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')));
}

/** The pack ties out: summary's reconciliation and chargeback.csv's costs both add up to the billed total. */
function expectTiesOut(dir: string, billed: string): void {
  const summary = readSummary(dir);
  expect(summary.reconciliation).toHaveLength(1);
  const [rec] = summary.reconciliation;
  expect(rec?.ties_out).toBe(true);
  expect(toScaled(rec?.billed ?? '')).toBe(toScaled(billed));
  expect(toScaled(rec?.allocated ?? '') + toScaled(rec?.idle ?? '') + toScaled(rec?.unallocated ?? '')).toBe(toScaled(billed));
  const rows = z.array(z.object({ cost: z.string() })).parse(parse(readFileSync(join(dir, 'chargeback.csv'), 'utf8'), { columns: true }));
  expect(rows.reduce((a, r) => a + toScaled(r.cost), 0n)).toBe(toScaled(billed));
}

describe('the method section names the rate-card versions of the month', () => {
  it('lists both versions with their hours and exact cost; the reason is escaped in report.html; the pack ties out', async () => {
    const [first, second] = await setCards();
    await seedRequests();
    await attributeWindow(w, settings(), new Date(OCT1), new Date(NOV1));
    const { pack, report } = await runChargebackReport(w, config, { month: OCTOBER, by: 'team', idle: 'spread', outDir: out, now: AFTER_OCTOBER });
    expect(report.status).toBe('final');

    const summary = readSummary(pack.dir);
    expect(summary.cost_basis).toBe('effective');
    // October 1-14: 14 x 24 hours at 8 x 2.40 = 19.2; October 15-31: 17 x 24 hours at 8 x 2.00 = 16.
    expect(summary.rate_cards).toEqual([
      {
        pool: POOL, change_id: first, card: '2.4 USD per GPU-hour x 8 GPUs', changed_at: '2026-11-10 00:00:00.000000', changed_by: 'alice', reason: 'contract 2026',
        hours: 336, cost: fixed(336n * toScaled('19.2')), currency: 'USD',
      },
      {
        pool: POOL, change_id: second, card: '2 USD per GPU-hour x 8 GPUs', changed_at: '2026-11-10 01:00:00.000000', changed_by: 'bob', reason: REASON,
        hours: 408, cost: fixed(408n * toScaled('16')), currency: 'USD',
      },
    ]);
    expect(summary.rate_cards?.map((c) => c.cost)).toEqual(['6451.200000000000', '6528.000000000000']);
    expectTiesOut(pack.dir, '12979.2');
    // The card-priced pool's rows of the FOCUS export keep to the FOCUS 1.3 column rules too.
    const focusText = readFileSync(join(pack.dir, 'focus-allocated.csv'), 'utf8');
    const focusRows = parse<Record<string, string>>(focusText, { columns: true });
    expect(focusRows.some((r) => r['ServiceProviderName'] === 'Rate card')).toBe(true);
    expect(focusViolations(focusText.slice(0, focusText.indexOf('\n')).split(','), focusRows)).toEqual([]);

    const html = readFileSync(join(pack.dir, 'report.html'), 'utf8');
    const method = html.slice(html.indexOf('<section id="method">'), html.indexOf('</section>'));
    expect(method).toContain('<h3>Rate cards</h3>');
    expect(method).toContain('Pool onprem-a100: 2.4 USD per GPU-hour x 8 GPUs, set 2026-11-10 00:00:00 UTC by alice — contract 2026: 336 hours, <span title="6451.200000000000">6,451.20</span> USD.');
    expect(method).toContain('Pool onprem-a100: 2 USD per GPU-hour x 8 GPUs, set 2026-11-10 01:00:00 UTC by bob — vendor discount from the 15th (PO &lt;4711&gt; &amp; co): 408 hours,');
    expect(html).not.toContain('<4711>');
  });

  it('a cloud bill covering some of the card\'s hours leaves the card only its remaining hours', async () => {
    await setCards();
    // The cloud bill covers October 1, 00:00-12:00 (first version's hours) and October 20, 00:00-06:00 (the second's), at 7 an hour.
    const covered = [...Array.from({ length: 12 }, (_, h) => OCT1 + h * HOUR), ...Array.from({ length: 6 }, (_, h) => OCT1 + 19 * DAY + h * HOUR)];
    await insertBilling(w, covered.map((start) => billingLine({ pool: POOL, start, effective_cost: '7', billed_cost: '7' })));
    await seedRequests();
    await attributeWindow(w, settings(), new Date(OCT1), new Date(NOV1));
    const { pack } = await runChargebackReport(w, config, { month: OCTOBER, by: 'team', idle: 'spread', outDir: out, now: AFTER_OCTOBER });

    const summary = readSummary(pack.dir);
    expect(summary.rate_cards?.map((c) => [c.changed_by, c.hours, c.cost])).toEqual([
      ['alice', 336 - 12, fixed(324n * toScaled('19.2'))],
      ['bob', 408 - 6, fixed(402n * toScaled('16'))],
    ]);
    expect(summary.rate_cards?.map((c) => c.cost)).toEqual(['6220.800000000000', '6432.000000000000']);
    // The bill: the card's remaining hours plus the cloud's 18 hours at 7.
    expectTiesOut(pack.dir, '12778.8');
    expect(readFileSync(join(pack.dir, 'report.html'), 'utf8')).toContain(': 324 hours, <span title="6220.800000000000">6,220.80</span> USD.');
  });

  it('an owner pack names the cards of its own pools only; a pack without cards has no rate_cards and no Rate cards list', async () => {
    await setCards();
    await insertBilling(w, Array.from({ length: 31 * 24 }, (_, h) => billingLine({ pool: 'gpu-a', start: OCT1 + h * HOUR, effective_cost: '3', billed_cost: '3' })));
    await seedRequests('gpu-a');
    await attributeWindow(w, settings(), new Date(OCT1), new Date(NOV1));
    const run = (owner?: string) => runChargebackReport(w, config, {
      month: OCTOBER, by: 'team', idle: 'spread', outDir: out, now: AFTER_OCTOBER, ...(owner === undefined ? {} : { owner }),
    });

    const full = await run();
    expect(readSummary(full.pack.dir).rate_cards?.map((c) => [c.pool, c.hours])).toEqual([[POOL, 336], [POOL, 408]]);
    expectTiesOut(full.pack.dir, fixed(336n * toScaled('19.2') + 408n * toScaled('16') + 744n * toScaled('3')));

    const search = await run('search');
    expect(readSummary(search.pack.dir).rate_cards?.map((c) => c.changed_by)).toEqual(['alice', 'bob']);

    const ads = await run('ads');
    expect(readSummary(ads.pack.dir).rate_cards).toBeUndefined();
    const html = readFileSync(join(ads.pack.dir, 'report.html'), 'utf8');
    expect(html).not.toContain('Rate cards');
    expect(html).not.toContain(POOL);
  });
});
