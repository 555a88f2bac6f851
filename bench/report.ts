/**
 * bench/report: time to build a month's chargeback pack (all files: CSV,
 * summary, FOCUS allocation, HTML with charts) for 1,000 owners x 50 models,
 * from a synthetic attributed month generated in the engine. Best of 2.
 * Writes bench/results/report.json.
 *
 *   npx tsx bench/report.ts [--owners 1000] [--models 50] [--days 30]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { configSchema } from '../src/config/config.js';
import { runChargebackReport } from '../src/report/run-report.js';
import { migrate } from '../src/warehouse/migrate.js';
import { splitStatements } from '../src/warehouse/sql-files.js';
import { openWarehouse } from '../src/warehouse/warehouse.js';
import { parseMonth } from '../src/util/time.js';
import { writeResult } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    owners: { type: 'string', default: '1000' },
    models: { type: 'string', default: '50' },
    days: { type: 'string', default: '30' },
  },
});
const owners = Number(args.owners);
const models = Number(args.models);
const days = Number(args.days);
const countRow = z.object({ n: z.coerce.number() });

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-report-'));
  const outDir = mkdtempSync(join(tmpdir(), 'bench-report-packs-'));
  const month = parseMonth('2026-10');
  if (!month) throw new Error('month');
  try {
    const w = await openWarehouse(configSchema.shape.warehouse.parse({ dataDir, database: 'bench_report' }));
    await migrate(w);
    process.stdout.write(`generating a month of ${owners.toLocaleString('en-US')} owners x ${models} models... `);
    const params = { month_start: '2026-10-01 00:00:00', days, owners, models, version: '2026-11-02 00:00:00.000000' };
    for (const statement of splitStatements(readFileSync(join(here, 'sql', 'report-synthetic.sql'), 'utf8'))) {
      const used = Object.fromEntries(Object.entries(params).filter(([name]) => statement.includes(`{${name}:`)));
      await w.command(statement, used);
    }
    const [rows] = await w.query('SELECT count() AS n FROM cost_allocation', {}, countRow);
    console.log(`${rows?.n.toLocaleString('en-US')} cost_allocation rows`);

    const config = configSchema.parse({});
    let best = Infinity;
    let lines = 0;
    let status = '';
    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      const run = await runChargebackReport(w, config, { month, by: 'team', idle: 'spread', outDir: join(outDir, String(i)), now: Date.UTC(2026, 11, 1) });
      const seconds = (performance.now() - started) / 1000;
      best = Math.min(best, seconds);
      lines = run.report.lines.length;
      status = run.report.status;
      console.log(`  pack ${i + 1}: ${seconds.toFixed(2)} s, ${lines.toLocaleString('en-US')} lines (${status}) in ${run.pack.dir}`);
    }
    await w.close();
    console.log(`chargeback pack, ${owners.toLocaleString('en-US')} owners x ${models} models, ${days} days: ${best.toFixed(2)} s (target < 10 s)`);
    const result = { benchmark: 'report', date: new Date().toISOString(), node: process.version, owners, models, days, costAllocationRows: rows?.n, lines, status, seconds: best };
    writeResult('report', result);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  }
}

await main();
