/**
 * report.html in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core): it opens with no console error and no request but the
 * page itself, names are text (a `<script>` tenant runs nothing), non-ASCII
 * renders, and each chart draws as many series as the data has. Also the
 * FOCUS allocation file of the same pack.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'csv-parse/sync';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import { configSchema } from '../src/config/config.js';
import { FOCUS_COLUMNS, METHOD_IDLE, METHOD_USED } from '../src/report/focus-allocated.js';
import { runChargebackReport } from '../src/report/run-report.js';
import { toScaled } from '../src/util/decimal.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings } from './helpers/attribution.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests, type TestRequest } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';
import { parseMonth } from '../src/util/time.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const SCRIPT_TENANT = '<script>document.title="pwned"</script>';
const MODELS = ['llama-3-8b', 'bge-large', 'modèle-é', 'モデル', 'toxicity-bert', 'whisper', 'clip'];

let w: Warehouse;
let browser: Browser;
let packDir = '';

beforeAll(async () => {
  w = await freshWarehouse();
  // Two pools over two days; seven models (the daily CPP chart draws the five biggest).
  const lines = [];
  for (let h = 0; h < 48; h++) {
    lines.push(billingLine({ start: DAY0 + h * HOUR, effective_cost: '4.5', instance_type: 'g6.12xlarge' }));
    lines.push(billingLine({ pool: 'gpu-b', start: DAY0 + h * HOUR, effective_cost: '1.25' }));
  }
  lines.push(billingLine({ pool: '', start: DAY0, hours: 48, effective_cost: '2', consumed_unit: 'GB-Mo', instance_type: '' }));
  await insertBilling(w, lines);
  const requests: TestRequest[] = [];
  for (let h = 0; h < 48; h += 2) {
    MODELS.forEach((model, i) => {
      requests.push({
        id: `${h}-${i}`, ts: DAY0 + h * HOUR + i, model, version: h < 24 ? 'v1' : i === 0 ? 'v2' : 'v1', pool: i % 2 === 0 ? 'gpu-a' : 'gpu-b',
        feature: i < 3 ? 'chat' : 'Recherche sémantique', tenant: i === 1 ? SCRIPT_TENANT : `tenant-${i}`, team: i < 3 ? 'assistant' : 'équipe-données',
        gpuMs: 200_000 * (i + 1) * (h >= 24 && i === 0 ? 2 : 1), input: 100, output: 20,
      });
    });
  }
  await insertRequests(w, requests);
  await attributeWindow(w, settings(), new Date(DAY0), new Date(DAY0 + 48 * HOUR));
  const month = parseMonth('2026-10');
  if (!month) throw new Error('month');
  const run = await runChargebackReport(w, configSchema.parse({}), { month, by: 'tenant', idle: 'separate', outDir: tempDir(), now: Date.UTC(2026, 11, 1) });
  packDir = run.pack.dir;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 180_000);

afterAll(async () => {
  await browser.close();
  await discardWarehouse(w);
});

describe('report.html', () => {
  it('opens offline with no console errors and no requests, names as text, one series per data series', { timeout: 120_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(join(packDir, 'report.html')).href;
    await page.goto(url, { waitUntil: 'load' });
    const shot = join(tempDir(), 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    expect(errors).toEqual([]);
    expect(requests).toEqual([url]);

    expect(await page.title()).toBe('Chargeback 2026-10 by tenant (final)');
    expect(await page.locator('script').count()).toBe(0);
    const text = await page.locator('body').innerText();
    expect(text).toContain(SCRIPT_TENANT);
    expect(text).toContain('modèle-é');
    expect(text).toContain('モデル');
    expect(text).toContain('ties out exactly');
    expect(text).not.toContain('DOES NOT TIE OUT');
    // Every section carries the badge.
    expect(await page.locator('h2 .badge.final').count()).toBe(7);

    const charts = [];
    for (const figure of await page.locator('figure.chart').all()) {
      charts.push({
        chart: await figure.getAttribute('data-chart'), series: Number(await figure.getAttribute('data-series')),
        svg: (await figure.locator('svg').count()) === 1, text: await figure.locator('svg text').allTextContents(),
      });
    }
    expect(charts.map((c) => c.chart)).toEqual(['owners', 'models', 'features', 'daily-cpp', 'pools']);
    for (const c of charts) expect(c.svg).toBe(true);
    // Bars: used and idle; legend entries drawn as text.
    for (const c of charts.filter((x) => x.chart !== 'daily-cpp')) {
      expect(c.series).toBe(2);
      expect(c.text).toEqual(expect.arrayContaining(['used', 'idle']) as unknown);
    }
    // Daily CPP: the five biggest models by cost, one line each, each named in the legend.
    const daily = charts.find((c) => c.chart === 'daily-cpp');
    const biggest = ['toxicity-bert', 'whisper', 'clip', 'modèle-é', 'モデル'];
    expect(daily?.series).toBe(5);
    expect(daily?.text).toEqual(expect.arrayContaining(biggest) as unknown);
    expect(daily?.text).not.toContain('bge-large');
    const lines = await page.locator('figure[data-chart="daily-cpp"] svg path[fill="none"]').count();
    expect(lines).toBeGreaterThanOrEqual(5);
    // The owner chart names the <script> tenant as text too.
    expect(charts[0]?.text.join(' ')).toContain('<script>');
    await page.close();
  });

  it('savings compares the model versions: v2 of llama doubled GPU time per request', () => {
    const html = readFileSync(join(packDir, 'report.html'), 'utf8');
    expect(html).toMatch(/<td>llama-3-8b<\/td><td>v2<\/td><td>v1<\/td>/);
    expect(html).toContain('cost ');
  });

  it('focus-allocated.csv has the FOCUS allocation columns and sums to the bill', async () => {
    const path = join(packDir, 'focus-allocated.csv');
    expect(existsSync(path)).toBe(true);
    const text = readFileSync(path, 'utf8');
    expect(text.split('\n')[0]).toBe(FOCUS_COLUMNS.join(','));
    const rows = z.array(z.record(z.string(), z.string())).parse(parse(text, { columns: true }));
    const total = rows.reduce((a, r) => a + toScaled(r.EffectiveCost ?? ''), 0n);
    const billed = await w.query('SELECT toString(sum(billed_cost)) AS b FROM pool_cost', {}, z.object({ b: z.string() }));
    expect(total).toBe(toScaled(billed[0]?.b ?? 'x'));
    const used = rows.filter((r) => r.AllocatedMethodId === METHOD_USED);
    expect(used.length).toBeGreaterThan(0);
    const tags = z.object({ team: z.string(), tenant: z.string(), model: z.string(), feature: z.string() });
    expect(used.map((r) => tags.parse(JSON.parse(r.AllocatedTags ?? ''))).find((t) => t.tenant === SCRIPT_TENANT)).toMatchObject({ team: 'assistant', model: 'bge-large', feature: 'chat' });
    expect(rows.filter((r) => r.AllocatedMethodId === METHOD_IDLE).map((r) => r.ResourceId).sort()).toEqual(['gpu-a', 'gpu-b']);
    expect(rows.filter((r) => r.AllocatedMethodId === '').map((r) => r.EffectiveCost)).toEqual(['2.000000000000']);
    for (const column of Object.keys(rows[0] ?? {})) expect(FOCUS_COLUMNS as readonly string[]).toContain(column);
    for (const column of FOCUS_COLUMNS.filter((c) => !/^[A-Z]/.test(c))) expect(column.startsWith('x_')).toBe(true);
  });
});
