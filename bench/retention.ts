/**
 * bench/retention: bytes on disk per request, raw (inference_requests) and as
 * hourly groups (request_hours), after merges, and what 1M, 100M and 1B
 * requests a day cost in disk at the default retention. Writes
 * bench/results/retention.json.
 *
 * Two kinds of traffic, one UTC day each:
 *  - events: realistic request events (bench/lib/synthetic-requests.ts: UUID-like
 *    ids, instance ids, latency, ~350 bytes of JSON) through file ingestion;
 *    3 models on 3 pools, 500 tenants: few groups;
 *  - mix: the attribution benchmark's traffic (bench/sql/synthetic-requests.sql),
 *    100 pools x 3 features x 200 tenants: up to 24 x 60,000 = 1.44M groups a day.
 * Raw rows cost per request; groups cost per (hour, pool, group) that had
 * traffic, whatever the requests, so a day's groups stop growing once every
 * group has traffic every hour (the mix's ceiling above).
 *
 *   npx tsx bench/retention.ts [--events 1000000] [--mix 1000000,10000000]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { refreshRequestHours } from '../src/attribution/request-hours.js';
import { configSchema } from '../src/config/config.js';
import { ingestRequestFiles } from '../src/files/requests-file.ingest.js';
import { applyRetention } from '../src/retention/apply.js';
import { migrate } from '../src/warehouse/migrate.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { writeSyntheticRequests } from './lib/synthetic-requests.js';
import { writeResult } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    mix: { type: 'string', default: '1000000,10000000' },
  },
});
const DAY = Date.UTC(2026, 9, 1);
const POOLS = 100;
/** The mix's most groups a day: 24 hours x 100 pools x 3 features x 200 tenants (one model per pool). */
const MIX_MAX_GROUPS_PER_DAY = 24 * POOLS * 3 * 200;
const PER_DAY = [1e6, 1e8, 1e9];
const defaults = configSchema.parse({});
const REQUEST_DAYS = defaults.retention.requestDays;
/** Whole months are dropped: raw rows are kept up to requestDays plus the month the horizon is in. */
const RAW_DAYS_HELD = REQUEST_DAYS + 31;
const dt = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const benchSql = (name: string): string => readFileSync(join(here, 'sql', `${name}.sql`), 'utf8');

const partsRow = z.object({ rows: z.coerce.number(), bytes: z.coerce.number(), compressed: z.coerce.number(), uncompressed: z.coerce.number() });
const columnRow = z.object({ name: z.string(), bytes: z.coerce.number() });

interface Stored { rows: number; bytesOnDisk: number; compressed: number; uncompressed: number }

async function stored(w: Warehouse, table: string): Promise<Stored> {
  await w.command('OPTIMIZE TABLE {t:Identifier} FINAL', { t: table });
  const [p] = await w.query(
    'SELECT sum(rows) AS rows, sum(bytes_on_disk) AS bytes, sum(data_compressed_bytes) AS compressed, sum(data_uncompressed_bytes) AS uncompressed FROM system.parts WHERE database = currentDatabase() AND table = {t:String} AND active',
    { t: table }, partsRow,
  );
  return { rows: p?.rows ?? 0, bytesOnDisk: p?.bytes ?? 0, compressed: p?.compressed ?? 0, uncompressed: p?.uncompressed ?? 0 };
}

async function topColumns(w: Warehouse, table: string): Promise<Record<string, number>> {
  const rows = await w.query(
    'SELECT name, data_compressed_bytes AS bytes FROM system.columns WHERE database = currentDatabase() AND table = {t:String} ORDER BY bytes DESC LIMIT 6',
    { t: table }, columnRow,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.bytes]));
}

interface Measured {
  traffic: 'events' | 'mix';
  requests: number;
  raw: Stored & { bytesPerRequest: number; topColumns: Record<string, number> };
  groups: Stored & { bytesPerRequest: number; bytesPerGroupRow: number };
  retentionApplySeconds: number;
}

async function measure(w: Warehouse, traffic: Measured['traffic'], requests: number): Promise<Measured> {
  await w.command('OPTIMIZE TABLE inference_requests FINAL');
  await refreshRequestHours(w, DAY);
  const raw = await stored(w, 'inference_requests');
  const groups = await stored(w, 'request_hours');
  const top = await topColumns(w, 'inference_requests');
  // The month of this one day, applied far enough ahead: the groups are checked (FINAL count) and the raw month dropped.
  const started = performance.now();
  const applied = await applyRetention(w, defaults, { now: DAY + 200 * 86_400_000 });
  const retentionApplySeconds = (performance.now() - started) / 1000;
  if (applied.tables[0]?.partitions[0]?.action !== 'dropped') throw new Error(`retention did not drop the month: ${JSON.stringify(applied.tables[0])}`);
  const m: Measured = {
    traffic, requests,
    raw: { ...raw, bytesPerRequest: raw.bytesOnDisk / requests, topColumns: top },
    groups: { ...groups, bytesPerRequest: groups.bytesOnDisk / requests, bytesPerGroupRow: groups.bytesOnDisk / Math.max(groups.rows, 1) },
    retentionApplySeconds,
  };
  console.log(`${traffic} ${requests.toLocaleString('en-US')}: raw ${m.raw.bytesPerRequest.toFixed(1)} B/request (${(raw.bytesOnDisk / 2 ** 20).toFixed(1)} MiB), ` +
    `groups ${m.groups.bytesPerRequest.toFixed(2)} B/request (${groups.rows.toLocaleString('en-US')} rows, ${m.groups.bytesPerGroupRow.toFixed(1)} B/row), retention apply ${retentionApplySeconds.toFixed(2)} s`);
  return m;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-retention-'));
  const results: Measured[] = [];
  try {
    const events = Number(args.events);
    if (events > 0) {
      const w = await openWarehouse(configSchema.shape.warehouse.parse({ dataDir, database: 'bench_events' }));
      await migrate(w);
      const file = join(dataDir, 'events.ndjson');
      process.stdout.write(`writing and ingesting ${events.toLocaleString('en-US')} realistic events... `);
      await writeSyntheticRequests(file, events, DAY);
      const summary = await ingestRequestFiles(w, [file], defaults.ingest);
      if (summary.accepted !== events) throw new Error(`ingested ${summary.accepted} of ${events}`);
      results.push(await measure(w, 'events', events));
      await w.command('DROP DATABASE bench_events');
      await w.close();
    }
    for (const size of args.mix.split(',').filter(Boolean).map(Number)) {
      const w = await openWarehouse(configSchema.shape.warehouse.parse({ dataDir, database: `bench_mix_${size}` }));
      await migrate(w);
      process.stdout.write(`generating ${size.toLocaleString('en-US')} requests of the attribution mix... `);
      for (let done = 0; done < size; done += 5_000_000) {
        await w.command(benchSql('synthetic-requests'), { day: dt(DAY), n: Math.min(5_000_000, size - done), total: size, first: done, id_offset: 0, pools: POOLS });
      }
      results.push(await measure(w, 'mix', size));
      await w.command('DROP DATABASE {db:Identifier}', { db: `bench_mix_${size}` });
      await w.close();
    }

    // Disk at the default retention: raw rows for up to RAW_DAYS_HELD days, the groups of every day forever (per year here).
    const rawPerRequest = Math.max(...results.map((r) => r.raw.bytesPerRequest));
    // Groups grow slower than requests: scale from the run of the nearest size, up to the traffic's ceiling.
    const nearest = (traffic: Measured['traffic'], perDay: number): Measured | undefined => results.filter((r) => r.traffic === traffic)
      .sort((a, b) => Math.abs(Math.log(a.requests / perDay)) - Math.abs(Math.log(b.requests / perDay)))[0];
    const projections = PER_DAY.map((perDay) => {
      const groupsPerDay = (m: Measured | undefined, ceiling: number): number | null => (m === undefined ? null : Math.min(ceiling, (m.groups.rows / m.requests) * perDay) * m.groups.bytesPerGroupRow);
      // The events' mix has 3 models on 3 pools and 500 tenants: at most 24 x 1,500 groups a day.
      const eventsGroups = groupsPerDay(nearest('events', perDay), 24 * 1_500);
      const mixGroups = groupsPerDay(nearest('mix', perDay), MIX_MAX_GROUPS_PER_DAY);
      return {
        requestsPerDay: perDay,
        rawGiB: (rawPerRequest * perDay * RAW_DAYS_HELD) / 2 ** 30,
        groupsGiBPerYear: { events: eventsGroups === null ? null : (eventsGroups * 365) / 2 ** 30, mix: mixGroups === null ? null : (mixGroups * 365) / 2 ** 30 },
        withoutRetentionGiBPerYear: (rawPerRequest * perDay * 365) / 2 ** 30,
      };
    });
    console.log(`\nat the default retention (${REQUEST_DAYS} days; whole months, so up to ${RAW_DAYS_HELD} days of raw rows held), ${rawPerRequest.toFixed(1)} B per raw request:`);
    for (const p of projections) {
      console.log(`${p.requestsPerDay.toLocaleString('en-US').padStart(13)} requests/day: raw ${p.rawGiB.toFixed(1)} GiB held; groups ${p.groupsGiBPerYear.events?.toFixed(3) ?? '-'} GiB/year (events), ${p.groupsGiBPerYear.mix?.toFixed(2) ?? '-'} GiB/year (mix); raw kept forever would be ${p.withoutRetentionGiBPerYear.toFixed(0)} GiB/year`);
    }
    writeResult('retention', {
      benchmark: 'retention', date: new Date().toISOString(), node: process.version,
      requestDays: REQUEST_DAYS, rawDaysHeld: RAW_DAYS_HELD, mixMaxGroupsPerDay: MIX_MAX_GROUPS_PER_DAY, measured: results, projections,
    });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
