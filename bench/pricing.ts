/**
 * bench/pricing: what rate cards cost on the embedded engine.
 *   - `pricing set` of a card back-dated a year (12 months of hourly lines
 *     planned against the lines in place, written, recorded), per card;
 *   - the scheduled sync when nothing is owed (every month's fingerprint
 *     compared) and when a day has passed (every pool's current month
 *     rewritten, its earlier hours keeping their versions);
 *   - re-attributing one day of requests over 100 cloud-billed pools without
 *     cards, with 20 card-priced pools beside them, and with cards on 20 of the
 *     cloud-billed pools too (the bill beating the card on every hour), and
 *     without cards again, best of three each: the view that decides which
 *     source counts is read by every attribution.
 * Writes bench/results/pricing.json.
 *
 *   npx tsx bench/pricing.ts [--requests 1000000] [--card-pools 20] [--months 12]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { attributeDay } from '../src/attribution/attribute.js';
import { configSchema, loadConfig } from '../src/config/config.js';
import { setRateCard, syncRateCards } from '../src/pricing/pricing.js';
import { DAY_MS } from '../src/util/time.js';
import { migrate } from '../src/warehouse/migrate.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { writeResult } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000000' },
    'card-pools': { type: 'string', default: '20' },
    months: { type: 'string', default: '12' },
  },
});
const POOLS = 100;
const DAY = Date.UTC(2026, 9, 1);
const benchSql = (name: string): string => readFileSync(join(here, 'sql', `${name}.sql`), 'utf8');
const dt = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const countRow = z.object({ n: z.coerce.number() });
const settings = configSchema.shape.attribution.parse({});

async function seconds<T>(work: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const result = await work();
  return [(performance.now() - started) / 1000, result];
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-pricing-'));
  const requests = Number(args.requests);
  const cardPools = Number(args['card-pools']);
  const months = Number(args.months);
  const config = loadConfig({ env: {} });
  // A year of cards ending on the benchmark's day, set the day after.
  const from = Date.UTC(2026, 9 - months + 1, 1);
  const now = DAY + 12 * 3_600_000;
  try {
    const w: Warehouse = await openWarehouse(configSchema.shape.warehouse.parse({ dataDir, database: 'bench_pricing' }));
    await migrate(w);
    process.stdout.write(`generating ${requests.toLocaleString('en-US')} requests over ${POOLS} cloud-billed pools... `);
    await w.command(benchSql('synthetic-requests'), { day: dt(DAY), n: requests, total: requests, first: 0, id_offset: 0, pools: POOLS });
    const version = `${dt(Date.now())}.000000`;
    await w.command(benchSql('synthetic-billing'), { day: dt(DAY), pools: POOLS, version });
    await w.command(benchSql('synthetic-billing-scope'), { day: dt(DAY), version });
    await w.command('OPTIMIZE TABLE inference_requests FINAL');
    await attributeDay(w, settings, DAY);
    console.log('done');

    const attribution: Record<string, number> = { noCards: Infinity, cardPools: Infinity, cardsUnderBills: Infinity, noCardsAgain: Infinity };
    const attribute = async (kind: string): Promise<void> => {
      const [s] = await seconds(() => attributeDay(w, settings, DAY));
      attribution[kind] = Math.min(attribution[kind] ?? Infinity, s);
      const [check] = await w.query('SELECT sum(requests) AS n FROM pool_cost', {}, countRow);
      if (check?.n !== requests) throw new Error(`attributed ${check?.n} requests of ${requests}`);
    };
    for (let i = 0; i < 3; i++) await attribute('noCards');

    // Cards on pools no cloud bills (the traffic's pools are pool-0..pool-99; these carry none).
    const setTimes: number[] = [];
    let lines = 0;
    for (let p = 0; p < cardPools; p++) {
      const [s, result] = await seconds(() => setRateCard(w, config, {
        pool: `onprem-${p}`, perGpuHour: '2.40', currency: 'USD', gpus: 8, from: new Date(from).toISOString(), reason: 'bench',
      }, { now, by: 'bench' }));
      setTimes.push(s);
      lines += result.lines;
    }
    const setMedian = [...setTimes].sort((a, b) => a - b)[Math.floor(setTimes.length / 2)] ?? NaN;
    console.log(`pricing set, back-dated ${months} months: median ${setMedian.toFixed(2)} s per card (${lines / cardPools} lines each)`);
    const [syncIdle, idle] = await seconds(() => syncRateCards(w, config, now));
    if (idle.months.length !== 0) throw new Error(`sync owed ${idle.months.length} months with nothing changed`);
    const [syncDay, rolled] = await seconds(() => syncRateCards(w, config, now + DAY_MS));
    console.log(`sync: ${syncIdle.toFixed(2)} s with nothing owed (${cardPools} pools x ${months} months compared); ${syncDay.toFixed(2)} s a day later (${rolled.months.length} months rewritten, ${rolled.lines.toLocaleString('en-US')} lines)`);
    for (let i = 0; i < 3; i++) await attribute('cardPools');

    // Cards under the cloud bill: the bill beats them on every hour.
    for (let p = 0; p < cardPools; p++) {
      await setRateCard(w, config, { pool: `pool-${p}`, perGpuHour: '1', currency: 'USD', gpus: 8, from: new Date(from).toISOString() }, { now: now + DAY_MS, by: 'bench' });
    }
    for (let i = 0; i < 3; i++) await attribute('cardsUnderBills');
    const [billed] = await w.query("SELECT countIf(source = 'rate-card') AS n FROM billing_current WHERE toDate(charge_period_start) = {d:Date}", { d: dt(DAY).slice(0, 10) }, countRow);
    // The machine drifts: without cards again (their scopes deleted), to see the first figure hold.
    await w.command("DELETE FROM billing_scopes WHERE source = 'rate-card'");
    for (let i = 0; i < 3; i++) await attribute('noCardsAgain');
    await w.close();

    console.log(`attribution of the day (${requests.toLocaleString('en-US')} requests), best of 3: ${attribution.noCards?.toFixed(2)} s without cards, `
      + `${attribution.cardPools?.toFixed(2)} s with ${cardPools} card pools, ${attribution.cardsUnderBills?.toFixed(2)} s with ${cardPools} more cards under the bill `
      + `(card lines counted that day: ${billed?.n}); ${attribution.noCardsAgain?.toFixed(2)} s without cards again`);
    const result = {
      benchmark: 'pricing', date: new Date().toISOString(), node: process.version, requests, cloudPools: POOLS, cardPools, months,
      set: { medianSeconds: setMedian, linesPerCard: lines / cardPools },
      sync: { idleSeconds: syncIdle, dayLaterSeconds: syncDay, monthsRewritten: rolled.months.length, linesRewritten: rolled.lines },
      attributionSeconds: attribution,
    };
    writeResult('pricing', result);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
