/**
 * Watermarks: what each scheduled job has done and what it owes, computed
 * from the warehouse (sql/jobs/*.sql), never from whether a trigger fired.
 * Attribution records per UTC day the inputs its run saw (attribution_runs);
 * a day is owed when they changed since. Billing pulls are owed for days never
 * pulled, still estimated, or in the open month (billing_pulls). Freshness:
 * the newest hour up to which every input is attributed (attributedThrough).
 */
import { z } from 'zod';
import type { Config } from '../config/config.js';
import type { DayResult } from '../attribution/attribute.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { DAY_MS, dayStart, formatDate, formatDateTime, HOUR_MS, parseDate, parseDateTime } from '../util/time.js';
import { fingerprint } from './contract.js';

const inputsRow = z.object({
  day: z.string(),
  billing_rows: z.coerce.number(),
  billing_version: z.string(),
  billing_hash: z.string(),
  requests: z.coerce.number(),
  requests_ingested_at: z.string(),
  attributed_before: z.coerce.boolean(),
  last_finished_at: z.string(),
  owed: z.coerce.boolean(),
});

export interface DayInputs extends z.infer<typeof inputsRow> {
  /** Fingerprint of the inputs and settings: the input version in the day's job id. */
  inputVersion: string;
}

/** JSON with object keys sorted, so equal settings hash alike whatever order the config file lists them in. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return value === undefined ? 'null' : JSON.stringify(value);
}

export function settingsHash(settings: Config['attribution']): string {
  return fingerprint(stableJson(settings));
}

/**
 * Each day of [from, to) with inputs or a past run: its inputs now, and
 * whether it is owed. Oldest first. `onlyOwed` leaves out the current days.
 */
export async function attributionInputs(warehouse: Warehouse, settings: Config['attribution'], from: number, to: number, onlyOwed: boolean): Promise<DayInputs[]> {
  const hash = settingsHash(settings);
  const rows = await warehouse.query(
    sqlFile('jobs/attribution-inputs'),
    { from: formatDateTime(dayStart(from)), to: formatDateTime(dayStart(to - 1) + DAY_MS), settings_hash: hash, only_owed: onlyOwed },
    inputsRow,
  );
  return rows.map((r) => ({
    ...r,
    inputVersion: fingerprint(r.billing_rows, r.billing_version, r.billing_hash, r.requests, r.requests_ingested_at, hash),
  }));
}

/** The inputs of one day as they are now (also when it has none). */
export async function dayInputs(warehouse: Warehouse, settings: Config['attribution'], day: number): Promise<DayInputs> {
  const [row] = await attributionInputs(warehouse, settings, day, day + DAY_MS, false);
  const empty = { day: formatDate(day), billing_rows: 0, billing_version: '1970-01-01 00:00:00.000000', billing_hash: '0', requests: 0, requests_ingested_at: '1970-01-01 00:00:00.000', attributed_before: false, last_finished_at: '', owed: false };
  return row ?? { ...empty, inputVersion: fingerprint(0, empty.billing_version, '0', 0, empty.requests_ingested_at, settingsHash(settings)) };
}

/** Record a finished run of a day with the inputs it read before it started. */
export async function recordAttributionRun(
  warehouse: Warehouse,
  settings: Config['attribution'],
  inputs: DayInputs,
  result: DayResult,
  startedAt: number,
  jobId: string,
): Promise<void> {
  const rowsWritten = Object.values(result.rows).reduce((a, n) => a + n, 0);
  await warehouse.insertObjects('attribution_runs', [{
    day: inputs.day,
    billing_rows: inputs.billing_rows,
    billing_version: inputs.billing_version,
    billing_hash: inputs.billing_hash,
    requests: inputs.requests,
    requests_ingested_at: inputs.requests_ingested_at,
    settings_hash: settingsHash(settings),
    rows_written: rowsWritten,
    started_at: new Date(startedAt).toISOString(),
    finished_at: new Date().toISOString(),
    job_id: jobId,
  }]);
}

const throughRow = z.object({ open_days: z.coerce.number(), first_open: z.string() });

/** How far attribution reflects its inputs: see {@link attributedThrough}. */
export interface AttributedThrough {
  /**
   * End of the newest fully attributed hour (epoch ms): every complete hour
   * before it that has a bill or traffic is attributed from its inputs as
   * they are now. The end of the last complete hour when nothing is open.
   */
  through: number;
  /** Days holding a complete hour that is not (the first of them sets `through`). */
  openDays: number;
}

/**
 * Freshness of attribution at `now` (sql/jobs/attributed-through.sql): the
 * start of the earliest complete hour of [from, now) with a bill or traffic
 * that the last run of its day did not attribute from its current inputs,
 * else the start of the current hour. `from` is a UTC midnight (the window
 * the attribute job owes from).
 */
export async function attributedThrough(warehouse: Warehouse, settings: Config['attribution'], from: number, now: number): Promise<AttributedThrough> {
  const to = Math.floor(now / HOUR_MS) * HOUR_MS;
  if (to <= from) return { through: to, openDays: 0 };
  const [row] = await warehouse.query(
    sqlFile('jobs/attributed-through'),
    { from: formatDateTime(dayStart(from)), to: formatDateTime(to), settings_hash: settingsHash(settings) },
    throughRow,
  );
  const openDays = row?.open_days ?? 0;
  return { through: openDays > 0 && row ? parseDateTime(row.first_open) : to, openDays };
}

const dayRow = z.object({ day: z.string() });

/** Accounts the billing pull covers: the configured list, or the caller's own ('default'), as collectBilling does. */
export function billingAccounts(config: Config): string[] {
  return config.aws.accounts.length > 0 ? config.aws.accounts.map((a) => a.id) : ['default'];
}

/** First day the billing pull owes: the configured start, else the first day of the previous month. */
export function billingStartDay(config: Config, now: number): number {
  if (config.jobs.billingStart !== undefined) return parseDate(config.jobs.billingStart);
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1);
}

/** Days in [start, today] the billing pull owes, oldest first (epoch ms of midnights). */
export async function billingPullOwedDays(warehouse: Warehouse, config: Config, now: number): Promise<number[]> {
  const today = dayStart(now);
  const d = new Date(now);
  const rows = await warehouse.query(
    sqlFile('jobs/billing-pull-owed-days'),
    {
      accounts: billingAccounts(config),
      from: formatDate(billingStartDay(config, now)),
      to: formatDate(today + DAY_MS),
      open_from: formatDate(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)),
    },
    dayRow,
  );
  return rows.map((r) => parseDate(r.day));
}

/** Consecutive days as [from, to) ranges, so a pull asks for each run of days in as few calls as it can. */
export function contiguousRanges(days: readonly number[]): { from: number; to: number }[] {
  const ranges: { from: number; to: number }[] = [];
  for (const day of [...days].sort((a, b) => a - b)) {
    const last = ranges.at(-1);
    if (last && last.to === day) last.to = day + DAY_MS;
    else ranges.push({ from: day, to: day + DAY_MS });
  }
  return ranges;
}

/** A pack the scheduled report builds for each month (config report.scheduled). */
export interface ScheduledPack {
  by: 'team' | 'tenant';
  idle: 'spread' | 'separate' | 'owner';
}

/** A month that owes packs: its status now and the configured packs not yet recorded at that status. */
export interface OwedMonth {
  /** 'YYYY-MM' */
  month: string;
  status: 'estimated' | 'final';
  /** Newest attribution of the month: recorded with the pack. */
  attributedAt: string;
  packs: ScheduledPack[];
}

const reportMonthRow = z.object({ month: z.string(), estimated: z.boolean(), attributed_at: z.string(), built: z.array(z.string()) });

/**
 * Months in [from, to) (first days of months) with attributed billing that
 * owe a configured pack at their status now (report_runs, pool_cost,
 * coverage_daily), oldest first. The caller passes only months that are over.
 */
export async function reportMonthsOwed(warehouse: Warehouse, config: Config, from: number, to: number): Promise<OwedMonth[]> {
  if (to <= from || config.report.scheduled.length === 0) return [];
  const rows = await warehouse.query(sqlFile('jobs/report-months'), { from: formatDate(from), to: formatDate(to) }, reportMonthRow);
  const basis = config.attribution.costBasis;
  const owed: OwedMonth[] = [];
  for (const r of rows) {
    const status = r.estimated ? 'estimated' : 'final';
    const built = new Set(r.built);
    const packs = config.report.scheduled.filter((p) => !built.has(`${p.by}/${p.idle}/${basis}/${status}`));
    if (packs.length > 0) owed.push({ month: r.month.slice(0, 7), status, attributedAt: r.attributed_at, packs });
  }
  return owed;
}

/** Record a pack the scheduled report built (or found in place) for a month. */
export async function recordReportRun(
  warehouse: Warehouse,
  run: { month: string; pack: ScheduledPack; basis: string; status: string; dir: string; written: boolean; attributedAt: string; jobId: string },
): Promise<void> {
  await warehouse.insertObjects('report_runs', [{
    month: `${run.month}-01`,
    report_by: run.pack.by,
    idle_policy: run.pack.idle,
    basis: run.basis,
    status: run.status,
    pack_dir: run.dir,
    written: run.written,
    attributed_at: run.attributedAt,
    built_at: new Date().toISOString(),
    job_id: run.jobId,
  }]);
}
