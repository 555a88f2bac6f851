/**
 * Attribution: turns the raw tables into cost_allocation, pool_cost,
 * cpp_daily and coverage_daily, one UTC day at a time. The arithmetic lives
 * in sql/attribution/*.sql; this module sequences it.
 *
 * A day is computed into staging tables private to the run, then each public
 * table's day partition is swapped in with REPLACE PARTITION (or dropped when
 * the day has nothing). So a re-run of any day, in any order, any number of
 * times, replaces that day atomically: readers see the old day or the new
 * one, never both and never neither. Two runs of one day at once each swap in
 * a complete day; the last one wins.
 *
 * Traffic is read from the day's hourly groups (request_hours), made current
 * from the raw rows first (request-hours.ts): the same sums the raw rows give,
 * so the same tables, and what is left of a day once retention has removed its
 * raw rows. A day whose traffic is gone is refused (TrafficRefusedError)
 * before anything is written, never attributed as a day without traffic.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { placeholders, sqlFile } from '../warehouse/sql-files.js';
import type { QueryParams, Warehouse } from '../warehouse/warehouse.js';
import { GPU_CATALOG } from './gpu-catalog.js';
import { migProfileSlices } from './mig-catalog.js';
import { refreshRequestHours } from './request-hours.js';
import { DAY_MS, dayStart, formatDate, formatDateTime } from '../util/time.js';

export type AttributionSettings = Config['attribution'];

/** The public tables and the statement that fills each from the staged day. */
const OUTPUTS = [
  { table: 'cost_allocation', stage: 'allocation', sql: 'attribution/cost-allocation' },
  { table: 'pool_cost', stage: 'pools', sql: 'attribution/pool-cost' },
  { table: 'cpp_daily', stage: 'cpp', sql: 'attribution/cpp-daily' },
  { table: 'coverage_daily', stage: 'coverage', sql: 'attribution/coverage-daily' },
] as const;

export interface DayResult {
  day: string;
  /** Rows written per public table. */
  rows: Record<(typeof OUTPUTS)[number]['table'], number>;
  seconds: number;
  /** Said only when there is something to say: raw rows that arrived for a day retention trimmed, which are not attributed. */
  note?: string;
}

export interface AttributeDayOptions {
  /**
   * Where the day's traffic is read from: its hourly groups (the default,
   * made current from the raw rows first), or the raw rows directly
   * (FINAL), which gives identical tables while they exist: kept to check
   * the groups against (tests, bench), it neither reads nor writes the groups.
   */
  traffic?: 'groups' | 'raw';
}

/** The UTC days touching [from, to): from's day up to the day holding the last instant before `to`. */
export function daysOf(from: Date, to: Date): number[] {
  if (!(to.getTime() > from.getTime())) throw new Error('--to must be after --from');
  const days: number[] = [];
  for (let day = dayStart(from.getTime()); day < to.getTime(); day += DAY_MS) days.push(day);
  return days;
}

/** Catalogued MIG profiles and their compute slices (of 7), for bills whose tags say MIG. */
const MIG_PROFILES = migProfileSlices();

/** Query parameters every step shares, from configuration. */
function settingsParams(settings: AttributionSettings): QueryParams {
  const poolsWithWeight = Object.entries(settings.pools).filter(([, p]) => p.weightBasis !== undefined);
  const poolsWithGpus = Object.entries(settings.pools).filter(([, p]) => p.gpusPerInstance !== undefined);
  return {
    cost_basis: settings.costBasis,
    weight_default: settings.weightBasis,
    weight_pools: poolsWithWeight.map(([id]) => id),
    weight_bases: poolsWithWeight.map(([, p]) => p.weightBasis ?? settings.weightBasis),
    gpu_types: Object.keys(GPU_CATALOG),
    gpu_counts: Object.values(GPU_CATALOG),
    pool_keys: poolsWithGpus.map(([id]) => id),
    pool_gpus: poolsWithGpus.map(([, p]) => p.gpusPerInstance ?? 0),
    mig_profiles: MIG_PROFILES.names,
    mig_compute: MIG_PROFILES.slices,
    feature_keys: Object.keys(settings.featureTeams),
    feature_teams: Object.values(settings.featureTeams),
    model_keys: Object.keys(settings.modelTeams),
    model_teams: Object.values(settings.modelTeams),
  };
}

/** Keep only the parameters a statement names, so each file binds exactly what it uses. */
function paramsFor(sql: string, all: QueryParams): QueryParams {
  const out: QueryParams = {};
  for (const name of placeholders(sql)) if (name in all) out[name] = all[name];
  return out;
}

const countRow = z.object({ n: z.coerce.number() });

const STAGE_NAME = /^attribution_stage_[0-9a-f]{12}_[a-z]+$/;
const nameRow = z.object({ name: z.string() });

/**
 * Drop staging tables a killed run left behind. Only ones older than
 * `maxAgeSeconds`, so a run still in progress elsewhere keeps its own.
 */
export async function dropStaleStagingTables(warehouse: Warehouse, maxAgeSeconds = 6 * 3600): Promise<string[]> {
  const stale = await warehouse.query(sqlFile('queries/stale-staging-tables'), { max_age: maxAgeSeconds }, nameRow);
  const dropped = stale.map((r) => r.name).filter((name) => STAGE_NAME.test(name));
  for (const name of dropped) await warehouse.command('DROP TABLE IF EXISTS {stage:Identifier}', { stage: name });
  return dropped;
}

/** Attribute every UTC day touching [from, to). */
export async function attributeWindow(
  warehouse: Warehouse,
  settings: AttributionSettings,
  from: Date,
  to: Date,
  onDay: (result: DayResult) => void = () => undefined,
  options: AttributeDayOptions = {},
): Promise<DayResult[]> {
  await dropStaleStagingTables(warehouse);
  const results: DayResult[] = [];
  for (const day of daysOf(from, to)) {
    const result = await attributeDay(warehouse, settings, day, options);
    onDay(result);
    results.push(result);
  }
  return results;
}

/** Attribute one UTC day (epoch ms of its midnight). */
export async function attributeDay(warehouse: Warehouse, settings: AttributionSettings, dayStart: number, options: AttributeDayOptions = {}): Promise<DayResult> {
  const started = performance.now();
  // Before any staging table: a day whose traffic is gone is refused here, with nothing written.
  const refresh = options.traffic === 'raw' ? undefined : await refreshRequestHours(warehouse, dayStart);
  const run = randomBytes(6).toString('hex');
  const stage = (name: string): string => `attribution_stage_${run}_${name}`;
  const stages = ['bill', 'hours', 'traffic', ...OUTPUTS.map((o) => o.stage)].map(stage);
  const all: QueryParams = {
    ...settingsParams(settings),
    from: formatDateTime(dayStart),
    to: formatDateTime(dayStart + DAY_MS),
    day_start: formatDateTime(dayStart),
    day_end: formatDateTime(dayStart + DAY_MS),
    attributed_at: new Date().toISOString().slice(0, 23).replace('T', ' '),
    bill: stage('bill'),
    hours: stage('hours'),
    traffic: stage('traffic'),
    allocation: stage('allocation'),
    pools: stage('pools'),
  };
  const execute = async (sql: string, params: QueryParams = all): Promise<void> => {
    await warehouse.command(sql, paramsFor(sql, params));
  };
  const memoryTable = async (name: string, file: string, params: QueryParams = all): Promise<void> => {
    await execute(`CREATE TABLE {stage:Identifier} ENGINE = Memory AS ${sqlFile(file)}`, { ...params, stage: stage(name) });
  };

  try {
    await memoryTable('bill', 'attribution/bill');
    await memoryTable('hours', 'attribution/billed-hours');
    // The bill holds only the day's own hours (long lines are spread), so the day's traffic is all it meets.
    await memoryTable('traffic', options.traffic === 'raw' ? 'attribution/traffic-raw' : 'attribution/traffic');

    const rows = {} as DayResult['rows'];
    for (const output of OUTPUTS) {
      // The source of `AS` cannot be a parameter; output.table comes from the constant list above.
      await execute(`CREATE TABLE {stage:Identifier} AS ${output.table}`, { stage: stage(output.stage) });
      await execute(`INSERT INTO {stage:Identifier} ${sqlFile(output.sql)}`, { ...all, stage: stage(output.stage) });
      const [count] = await warehouse.query('SELECT count() AS n FROM {stage:Identifier}', { stage: stage(output.stage) }, countRow);
      rows[output.table] = count?.n ?? 0;
    }
    // Swap the day in, table by table. The partition is the day (toYYYYMMDD), bound as a parameter;
    // the staging table's name cannot be a parameter here, and is ours (checked below), not input.
    const partition = Number(formatDate(dayStart).replaceAll('-', ''));
    for (const output of OUTPUTS) {
      const source = stage(output.stage);
      if (!STAGE_NAME.test(source)) throw new Error(`unexpected staging table name ${source}`);
      if (rows[output.table] > 0) {
        await warehouse.command(`ALTER TABLE {table:Identifier} REPLACE PARTITION {day:UInt32} FROM ${source}`, { table: output.table, day: partition });
      } else {
        await warehouse.command('ALTER TABLE {table:Identifier} DROP PARTITION {day:UInt32}', { table: output.table, day: partition });
      }
    }
    const late = refresh?.lateRows ?? 0;
    return {
      day: formatDate(dayStart), rows, seconds: (performance.now() - started) / 1000,
      ...(late > 0 ? { note: `${late} raw row(s) arrived after retention trimmed the day: not attributed (its hourly groups are its traffic)` } : {}),
    };
  } finally {
    for (const name of stages) await warehouse.command('DROP TABLE IF EXISTS {stage:Identifier}', { stage: name });
  }
}
