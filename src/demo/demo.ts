/**
 * `inferledger demo`: a month of realistic traffic and billing, through the
 * real path end to end — files written as sources give them, ingested,
 * attributed — then the numbers an analyst would look at first. One pool is
 * on premises: no bill covers it, a rate card prices it (repriced mid-month).
 * Runs in its own database (`inferledger_demo`), rebuilt on every run.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { attributeWindow } from '../attribution/attribute.js';
import { attributionSettingsFor } from '../attribution/recorded-settings.js';
import { BILLING_FILE_FORMATS } from '../billing/file-formats.js';
import { ingestBillingFiles } from '../billing/billing-file.ingest.js';
import { ingestRequestFiles } from '../files/requests-file.ingest.js';
import { migrate } from '../warehouse/migrate.js';
import { sqlFile } from '../warehouse/sql-files.js';
import { openWarehouse, type QueryParams, type Warehouse } from '../warehouse/warehouse.js';
import { DEMO_ONPREM_POOL, DEMO_TEAMS, demoRateCards, writeDemoBill, writeDemoRequests, type DemoWindow } from './demo-data.js';
import { DAY_MS, formatDate, HOUR_MS, parseMonth } from '../util/time.js';
import { readCards, setRateCard } from '../pricing/pricing.js';
import { cardLines } from '../pricing/pricing-text.js';
import { runChargebackReport } from '../report/run-report.js';
import { DEMO_DATABASE } from './demo-database.js';

export { DEMO_DATABASE };

/** The last whole calendar month (UTC) before `now`: in the past, so no event is refused as future. */
export function lastFullMonth(now = new Date()): DemoWindow {
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const days = Math.round((end - start) / DAY_MS);
  return { start, days, rolloutDay: Math.min(19, days - 1) };
}

async function print(warehouse: Warehouse, out: (line: string) => void, title: string, file: string, params: QueryParams): Promise<void> {
  out(`\n${title}`);
  const stream = await warehouse.queryText(sqlFile(file), params, 'PrettyCompactMonoBlock');
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  out(text.trimEnd());
}

export async function runDemo(config: Config, out: (line: string) => void): Promise<void> {
  const started = performance.now();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  const window = lastFullMonth();
  const dir = resolve(config.warehouse.dataDir, 'demo');
  mkdirSync(dir, { recursive: true });
  const requestsFile = join(dir, 'requests.ndjson.gz');
  const billFile = join(dir, 'billing-focus.csv');
  const month = new Date(window.start).toISOString().slice(0, 7);

  const onPrem = DEMO_ONPREM_POOL;
  out(`inferledger demo: ${month}, four GPU pools (LLM on H100, embeddings on L4, a classifier on T4 in the cloud; a fine-tuned 70B on ${onPrem.gpus} ${onPrem.gpuType} on premises, priced by a rate card)`);
  // The warehouse first: a machine without the embedded engine (or a server that does not answer) stops here, at once.
  const warehouseConfig = { ...config.warehouse, database: DEMO_DATABASE };
  const reset = await openWarehouse(warehouseConfig);
  await reset.command('DROP DATABASE IF EXISTS {db:Identifier} SYNC', { db: DEMO_DATABASE });
  await reset.close();
  const warehouse = await openWarehouse(warehouseConfig);
  try {
    await migrate(warehouse);
    const [requests, billRows] = await Promise.all([writeDemoRequests(requestsFile, window), writeDemoBill(billFile, window)]);
    out(`  wrote ${requests.toLocaleString('en-US')} request events and ${billRows.toLocaleString('en-US')} FOCUS billing lines (${elapsed()})`);
    const ingested = await ingestRequestFiles(warehouse, [requestsFile], config.ingest);
    out(`  ingested requests: ${ingested.accepted.toLocaleString('en-US')} accepted, ${ingested.rejected} rejected, ${ingested.duplicates} duplicate (${elapsed()})`);
    const focus = BILLING_FILE_FORMATS['focus'];
    if (!focus) throw new Error('the focus format is missing');
    const billed = await ingestBillingFiles(warehouse, [billFile], { format: focus, poolTagKey: config.billing.poolTagKey, batchRows: config.ingest.batchRows });
    out(`  ingested billing: ${billed.accepted.toLocaleString('en-US')} lines (${elapsed()})`);
    const end = window.start + window.days * DAY_MS;
    // No cloud bills the on-premises pool: its rate card does, as hourly lines. Set once the month has settled
    // (settleDays after its end), so those lines are final like the FOCUS bill's and the pack stays final.
    const pricedAt = end + config.pricing.settleDays * DAY_MS;
    const cards = demoRateCards(window);
    let linesWritten = 0;
    for (const [i, card] of cards.entries()) {
      linesWritten += (await setRateCard(warehouse, config, card, { now: pricedAt + i * HOUR_MS, by: 'finops-demo' })).lines;
    }
    out(`  priced ${onPrem.pool} by its rate card: ${cards.length} versions, ${linesWritten.toLocaleString('en-US')} hourly lines written (${elapsed()})`);
    // Recorded with the database, so a later `--database inferledger_demo` process that configures none attributes and reports alike.
    const settings = await attributionSettingsFor(
      warehouse,
      { ...config.attribution, featureTeams: { ...DEMO_TEAMS, ...config.attribution.featureTeams } },
      { by: 'inferledger demo', reason: 'demo' },
    );
    const days = await attributeWindow(warehouse, settings, new Date(window.start), new Date(end));
    out(`  attributed ${days.length} days (${elapsed()})`);

    const range = { from: formatDate(window.start), to: formatDate(end) };
    const top = (dim: string, limit = 6): QueryParams => ({ dim, ...range, currency: 'USD', limit });
    await print(warehouse, out, `Cost per prediction by model, ${month} (fully loaded = idle spread over traffic; used = GPU time actually used):`, 'queries/cpp-by-dimension', top('model_id'));
    await print(warehouse, out, 'By feature:', 'queries/cpp-by-dimension', top('feature_id', 8));
    await print(warehouse, out, 'By team:', 'queries/cpp-by-dimension', top('team'));
    await print(warehouse, out, 'Top tenants by cost:', 'queries/cpp-by-dimension', top('tenant_id'));
    const rollout = formatDate(window.start + window.rolloutDay * DAY_MS);
    await print(warehouse, out, `The ${rollout} rollout: half the LLM traffic on v4, which doubled GPU time per request:`, 'queries/version-comparison', { day: rollout, currency: 'USD' });
    await print(warehouse, out, 'GPU pools: utilisation and idle cost:', 'queries/pool-utilization', range);
    out(`\nRate card of ${onPrem.pool} (on premises, no cloud bill): every version, who set it, why, what it replaced and restated:`);
    for (const line of cardLines(await readCards(warehouse, [onPrem.pool]), true, pricedAt)) out(`  ${line}`);
    await print(warehouse, out, 'Coverage: where the bill went:', 'queries/coverage-summary', range);

    // The month's chargeback pack; the demo owns this directory and rebuilds it on every run.
    const reports = join(dir, 'reports');
    rmSync(reports, { recursive: true, force: true });
    const reportMonth = parseMonth(month);
    if (!reportMonth) throw new Error(`not a month: ${month}`);
    const { pack, report } = await runChargebackReport(warehouse, { ...config, attribution: settings }, { month: reportMonth, by: 'team', idle: 'spread', outDir: reports, attribution: settings });
    out(`\nChargeback pack (${report.status}, by team, idle spread): ${pack.dir}`);
    out(`          open ${join(pack.dir, 'report.html')}`);

    out(`\nFiles:    ${requestsFile}\n          ${billFile}`);
    out(`Tables:   database ${DEMO_DATABASE} in ${resolve(config.warehouse.dataDir)}: cost_allocation, pool_cost, cpp_daily, coverage_daily (and the raw tables)`);
    out(`Settings: the demo's attribution settings (its feature -> team mapping) are recorded in ${DEMO_DATABASE}: commands and the service run on it without attribution settings of their own use them`);
    out(`Pricing:  npx inferledger --database ${DEMO_DATABASE} pricing list --history   (${onPrem.pool}'s rate card: who set each price, when and why)`);
    out(`Alerts:   npx inferledger --database ${DEMO_DATABASE} alerts evaluate   (finds the ${rollout} rollout and says why CPP moved)`);
    out(`Try:      npx inferledger --database ${DEMO_DATABASE} sql --file sql/queries/cpp-by-dimension.sql --param dim=tenant_id --param from=${range.from} --param to=${range.to} --param currency=USD --param limit=20`);
    out(`Report:   npx inferledger --database ${DEMO_DATABASE} report chargeback --month ${month} --by tenant --idle separate --out ${reports}`);
    out(`Finished in ${elapsed()}.`);
  } finally {
    await warehouse.close();
  }
}
