/**
 * bench/alerts: time to evaluate CPP alerts over 10,000 (model, feature) keys
 * x 30 days of attribution output, synthesised in the embedded engine
 * (bench/sql/synthetic-alerts.sql; 1% of the keys regress on the last day).
 * Two figures: the daily run (the last day, judged against the 29 before it)
 * and a backfill evaluating all 30 days in one run. Best of 2 each.
 * Writes bench/results/alerts.json.
 *
 *   npx tsx bench/alerts.ts [--keys 10000] [--days 30]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { evaluateAlerts } from '../src/alerts/evaluate.js';
import { configSchema } from '../src/config/config.js';
import { migrate } from '../src/warehouse/migrate.js';
import { placeholders, splitStatements } from '../src/warehouse/sql-files.js';
import { openWarehouse } from '../src/warehouse/warehouse.js';
import { DAY_MS } from '../src/util/time.js';
import { writeResult } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({ options: { keys: { type: 'string', default: '10000' }, days: { type: 'string', default: '30' } } });
const keys = Number(args.keys);
const days = Number(args.days);
const regressed = Math.round(keys / 100);
const START = Date.UTC(2026, 9, 1);
const day = (i: number): string => new Date(START + i * DAY_MS).toISOString().slice(0, 10);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-alerts-'));
  try {
    const w = await openWarehouse(configSchema.shape.warehouse.parse({ dataDir, database: 'bench_alerts' }));
    await migrate(w);
    process.stdout.write(`synthesising ${keys.toLocaleString('en-US')} keys x ${days} days... `);
    for (const statement of splitStatements(readFileSync(join(here, 'sql', 'synthetic-alerts.sql'), 'utf8'))) {
      const all: Record<string, unknown> = { start: day(0), days, keys, pools: 500, regressed };
      await w.command(statement, Object.fromEntries([...placeholders(statement)].map((name) => [name, all[name]])));
    }
    console.log('done');
    const now = new Date(START + (days + 3) * DAY_MS);
    const alerts = configSchema.shape.alerts.parse({ lookbackDays: days + 3 });
    const reset = async (): Promise<void> => {
      for (const table of ['cpp_alerts', 'cpp_alert_evaluations', 'cpp_alert_deliveries']) await w.command('TRUNCATE TABLE {t:Identifier}', { t: table });
    };
    const time = async (run: () => Promise<{ opened: number; evaluatedDays: number }>): Promise<{ seconds: number; opened: number; evaluatedDays: number }> => {
      let best = { seconds: Infinity, opened: 0, evaluatedDays: 0 };
      for (let i = 0; i < 2; i++) {
        await reset();
        const started = performance.now();
        const r = await run();
        const seconds = (performance.now() - started) / 1000;
        if (seconds < best.seconds) best = { seconds, ...r };
      }
      return best;
    };
    const summary = (r: Awaited<ReturnType<typeof evaluateAlerts>>): { opened: number; evaluatedDays: number } => ({
      opened: r.transitions.filter((t) => t.transition === 'opened').length,
      evaluatedDays: r.days.filter((d) => d.status === 'evaluated').length,
    });
    const daily = await time(async () => summary(await evaluateAlerts(w, { alerts }, { day: day(days - 1), now, notify: false })));
    console.log(`daily run: last day of ${days}, ${keys.toLocaleString('en-US')} keys: ${daily.seconds.toFixed(2)} s, ${daily.opened} alerts opened (${regressed} injected)`);
    const backfill = await time(async () => summary(await evaluateAlerts(w, { alerts }, { now, notify: false })));
    console.log(`backfill: ${backfill.evaluatedDays} days x ${keys.toLocaleString('en-US')} keys in one run: ${backfill.seconds.toFixed(2)} s, ${backfill.opened} alerts opened (target < 5 s)`);
    await w.close();
    const result = { benchmark: 'alerts', date: new Date().toISOString(), node: process.version, keys, days, regressed, daily, backfill };
    writeResult('alerts', result);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
