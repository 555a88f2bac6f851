/**
 * README's first command: `inferledger demo`, end to end on the real engine.
 * Checks the calibration the demo promises, not just that it printed something,
 * and its on-premises pool: billed by its rate card alone, repriced mid-month.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { main, EXIT } from '../src/cli/main.js';
import { DEMO_DATABASE, lastFullMonth } from '../src/demo/demo.js';
import { openWarehouse } from '../src/warehouse/warehouse.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import { TEST_DATA_DIR, testWarehouseConfig } from './helpers/warehouse.js';
import { DAY_MS } from '../src/util/time.js';

describe('inferledger demo', () => {
  it('picks the last whole month, in the past', () => {
    expect(lastFullMonth(new Date('2026-11-24T05:00:00Z'))).toEqual({ start: Date.UTC(2026, 9, 1), days: 31, rolloutDay: 19 });
    expect(lastFullMonth(new Date('2027-03-01T00:00:00Z'))).toMatchObject({ start: Date.UTC(2027, 1, 1), days: 28 });
  });

  it('ingests, attributes and reports a month whose figures land in the published ranges', { timeout: 400_000 }, async () => {
    const out: string[] = [];
    const code = await main(['demo'], { out: (l) => out.push(l), err: (l) => out.push(l), env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR } });
    const text = out.join('\n');
    expect(code).toBe(EXIT.ok);
    expect(text).toMatch(/accepted, 0 rejected, 0 duplicate/);
    expect(text).toMatch(/Cost per prediction by model/);

    // The on-premises pool's card history: the price list from the month's start, then the repricing from the 15th,
    // each with its reason, the second naming the first as the version it replaced.
    const window = lastFullMonth();
    const day = (d: number): string => new Date(window.start + d * DAY_MS).toISOString().slice(0, 10);
    const at = '\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}';
    // Each version restated exactly its hours of the month (16.8 an hour, then 0.25 x 8 = 2 less from the 15th), and nothing beyond it.
    const restated = (hours: number, cost: string): string => `      restated: ${hours} hours, ${cost} USD (${day(0).slice(0, 7)})`;
    const laterHours = (window.days - 14) * 24;
    const history = text.slice(text.indexOf('\nRate card of onprem-a100')).split('\n').slice(2, 9);
    expect(history).toEqual([
      '  pool onprem-a100',
      expect.stringMatching(new RegExp(`^ {4}${at} by finops-demo: 2\\.1 USD per GPU-hour x 8 A100-80GB GPUs, from ${day(0)}T00:00Z to ${day(window.days)}T00:00Z — internal price list ${day(0).slice(0, 4)}$`)),
      '      replaced: (none)',
      restated(window.days * 24, String((window.days * 24 * 168) / 10)),
      expect.stringMatching(new RegExp(`^ {4}${at} by finops-demo: 1\\.85 USD per GPU-hour x 8 A100-80GB GPUs, from ${day(14)}T00:00Z to ${day(window.days)}T00:00Z — power contract renegotiated$`)),
      `      replaced: 2.1 USD per GPU-hour x 8 A100-80GB GPUs (set ${history[1]?.slice(4, 23) ?? '?'} by finops-demo)`,
      restated(laterHours, `-${laterHours * 2}`),
    ]);
    // ...and the pool in the printed tables, by attribution of its card lines.
    expect(text).toMatch(/│ policy-llama-70b │/);
    expect(text).toMatch(/│ onprem-a100 │ USD/);

    const w = await openWarehouse(testWarehouseConfig(DEMO_DATABASE));
    try {
      const row = z.object({ model_id: z.string(), model_version: z.string(), cpp: z.coerce.number(), per_1k: z.coerce.number().nullable() });
      const month = await w.query(
        `SELECT model_id, '' AS model_version, toFloat64(sum(cost) / sum(requests)) AS cpp,
                if(sum(input_tokens + output_tokens) = 0, NULL, toFloat64(sum(cost) * 1000 / sum(input_tokens + output_tokens))) AS per_1k
         FROM cpp_daily GROUP BY model_id ORDER BY model_id`,
        {},
        row,
      );
      const byModel = Object.fromEntries(month.map((r) => [r.model_id, r]));
      expect(byModel['toxicity-bert']?.cpp).toBeGreaterThan(0.00001);
      expect(byModel['toxicity-bert']?.cpp).toBeLessThan(0.0001);
      expect(byModel['bge-large']?.cpp).toBeGreaterThan(0.00005);
      expect(byModel['bge-large']?.cpp).toBeLessThan(0.0003);
      expect(byModel['llama-3-8b']?.per_1k).toBeGreaterThan(0.0005);
      expect(byModel['llama-3-8b']?.per_1k).toBeLessThan(0.01);

      // The rollout day: v4 costs visibly more per prediction than v3.
      const versions = await w.query(
        `SELECT model_id, model_version, toFloat64(sum(cost) / sum(requests)) AS cpp, NULL AS per_1k
         FROM cpp_daily WHERE model_id = 'llama-3-8b' AND day = (SELECT min(day) FROM cpp_daily WHERE model_version = 'v4')
         GROUP BY model_id, model_version ORDER BY model_version`,
        {},
        row,
      );
      expect(versions.map((v) => v.model_version)).toEqual(['v3', 'v4']);
      expect((versions[1]?.cpp ?? 0) / (versions[0]?.cpp ?? 1)).toBeGreaterThan(1.6);

      // Every unit of the month's bill is accounted for.
      const [coverage] = await w.query(
        `SELECT toString(sum(billed_cost)) AS billed, toString(sum(allocated_cost) + sum(unallocated_cost)) AS accounted,
                sum(pending_requests) AS pending FROM coverage_daily`,
        {},
        z.object({ billed: z.string(), accounted: z.string(), pending: z.coerce.number() }),
      );
      expect(coverage?.accounted).toBe(coverage?.billed);
      expect(coverage?.pending).toBe(0);

      // The on-premises pool is billed by its card alone, final, hour by hour: 14 days at 8 x 2.10, the rest of the month at 8 x 1.85.
      const hoursBefore = 14n * 24n;
      const hoursAfter = BigInt(window.days) * 24n - hoursBefore;
      const cardCost = formatScaled(hoursBefore * 8n * toScaled('2.10') + hoursAfter * 8n * toScaled('1.85'));
      const monthRange = { from: new Date(window.start).toISOString().slice(0, 10), to: new Date(window.start + window.days * DAY_MS).toISOString().slice(0, 10) };
      const [onPremBill] = await w.query(
        `SELECT toString(sum(effective_cost)) AS cost, count() AS hours, groupUniqArray(source) AS sources, countIf(is_estimated) AS estimated
         FROM billing_current WHERE pool_id = 'onprem-a100' AND charge_period_start >= {from:Date} AND charge_period_start < {to:Date}`,
        monthRange,
        z.object({ cost: z.string(), hours: z.coerce.number(), sources: z.array(z.string()), estimated: z.coerce.number() }),
      );
      expect(onPremBill).toEqual({ cost: cardCost, hours: window.days * 24, sources: ['rate-card'], estimated: 0 });
      const [onPremPool] = await w.query(
        "SELECT toString(sum(billed_cost)) AS billed FROM pool_cost WHERE pool_id = 'onprem-a100' AND period_start >= {from:Date} AND period_start < {to:Date}",
        monthRange,
        z.object({ billed: z.string() }),
      );
      expect(onPremPool?.billed).toBe(cardCost);

      // Pools run at realistic utilisation over the month, not ~1 %.
      const utilization = await w.query(
        "SELECT pool_id, toFloat64(sum(used_gpu_ms) / sum(capacity_gpu_ms)) AS u FROM pool_cost WHERE pool_id != '' GROUP BY pool_id ORDER BY pool_id",
        {},
        z.object({ pool_id: z.string(), u: z.number() }),
      );
      expect(utilization.map((p) => p.pool_id)).toEqual(['clf-t4', 'embed-l4', 'llm-h100', 'onprem-a100']);
      for (const p of utilization) {
        expect(p.u).toBeGreaterThan(0.2);
        expect(p.u).toBeLessThan(0.7);
      }

      // The demo builds the month's chargeback pack and says where.
      const packLine = /Chargeback pack \(final, by team, idle spread\): (\S+)/.exec(text);
      expect(packLine?.[1]).toBeDefined();
      const packDir = packLine?.[1] ?? '';
      expect(readdirSync(packDir).sort()).toEqual(['chargeback.csv', 'focus-allocated.csv', 'report.html', 'summary.json']);
      const csvTotal = z.array(z.object({ cost: z.string() })).parse(parse(readFileSync(join(packDir, 'chargeback.csv'), 'utf8'), { columns: true }))
        .reduce((a, r) => a + toScaled(r.cost), 0n);
      expect(csvTotal).toBe(toScaled(coverage?.billed ?? 'x'));
    } finally {
      await w.close();
    }
  });

  // Reads the demo database the test above built (same file, run in order): the demo is too slow to build twice.
  it('alerts evaluate finds the rollout with its dominant factor', { timeout: 120_000 }, async () => {
    // CPP alerts find the rollout on used CPP (the pool's idle headroom absorbed it) and name GPU-ms per request and the version.
    const alerts: string[] = [];
    const alertCode = await main(['--database', DEMO_DATABASE, 'alerts', 'evaluate', '--no-notify'], { out: (l) => alerts.push(l), err: (l) => alerts.push(l), env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR } });
    const window = lastFullMonth();
    const rollout = new Date(window.start + window.rolloutDay * DAY_MS).toISOString().slice(0, 10);
    expect(alertCode).toBe(EXIT.ok);
    const alertText = alerts.join('\n');
    expect(alertText).toMatch(new RegExp(`OPENED alert [0-9a-f]{12} \\(used CPP, dominant factor: gpu_ms_per_request\\)\\nllama-3-8b / chat \\(USD\\): used CPP \\+\\d+% on ${rollout}`));
    expect(alertText).toMatch(/Why: GPU-ms per request \+\d+% since model_version v4/);
    expect(alertText).toMatch(/absorbed by idle headroom/);
    expect(alertText.match(/OPENED/g)).toHaveLength(1);
  });
});
