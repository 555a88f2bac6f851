/**
 * Retention: raw request events (inference_requests) and refused lines
 * (ingest_rejects) older than the configured number of days are dropped, a
 * whole month partition at a time (DROP PARTITION: no mutation, no rewrite),
 * once every day of the month is older than the horizon. Nothing else is
 * ever trimmed: not the hourly groups (request_hours), the attribution
 * tables, the bill and its versions, alerts, runs or settings.
 *
 * A month of requests goes only after the hourly groups of each of its days
 * exist and match its raw rows: each day's groups are made current first
 * (refreshRequestHours, as attribution does), then the deduplicated raw count
 * of each day (FINAL) must equal the requests its groups hold. A month with
 * a day that does not match is kept, and said why. What a trimmed day's
 * groups held is recorded in retention_days before the rows go, so a later
 * attribution can tell a day whose raw rows retention removed from a day that
 * never had any, and refuses it when its groups no longer hold its traffic.
 * Every run records the horizon it applied in retention_runs.
 *
 * Idempotent: a second run finds nothing left to drop. Rows that arrive later
 * for a trimmed day (its month partition made anew) are not attributed (the
 * groups are the day's traffic) and go at the next run.
 */
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { refreshRequestHours, trimmedDay, trimmedDayProblem, hourStates, TrafficRefusedError } from '../attribution/request-hours.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { DAY_MS, dayStart, formatDate, formatDateTime, monthStart, parseDate, parseMonth, type Month } from '../util/time.js';

/** The tables retention trims, and the setting that bounds each. */
export const RETAINED_TABLES = [
  { table: 'inference_requests', setting: 'requestDays' },
  { table: 'ingest_rejects', setting: 'rejectDays' },
] as const;
export type RetainedTable = (typeof RETAINED_TABLES)[number]['table'];

export interface PartitionOutcome {
  /** The month, YYYYMM, as ClickHouse names the partition. */
  partition: string;
  rows: number;
  action: 'dropped' | 'would drop' | 'refused';
  /** Why a month is refused; for a dry run, also what a real run would do first. */
  reasons: string[];
}

export interface TableOutcome {
  table: RetainedTable;
  keepDays: number;
  /** Rows of days before this one may go (YYYY-MM-DD). */
  horizon: string;
  /** Every month before this day is gone after the run, except refused ones. */
  keptFrom: string;
  /** Months older than the horizon, oldest first. */
  partitions: PartitionOutcome[];
}

export interface RetentionResult {
  dryRun: boolean;
  appliedAt: string;
  tables: TableOutcome[];
  /** Rows written to the warehouse (retention_days and retention_runs), for the job's outcome. */
  rowsWritten: number;
}

export interface RetentionOptions {
  /** The instant retention judges by (epoch ms); now by default. */
  now?: number;
  /** Say what would go, write nothing (not even the hourly groups). */
  dryRun?: boolean;
  /** Recorded with the run. */
  jobId?: string;
}

const partitionRow = z.object({ partition: z.string(), rows: z.coerce.number() });
const dayRow = z.object({
  day: z.string(),
  raw_rows: z.coerce.number(),
  raw_requests: z.coerce.number(),
  kept_requests: z.coerce.number(),
  kept_groups: z.coerce.number(),
  trimmed: z.coerce.boolean(),
});

/** The month a partition id (YYYYMM) names, or undefined for another partitioning. */
function monthOfPartition(id: string): Month | undefined {
  return /^\d{6}$/.test(id) ? parseMonth(`${id.slice(0, 4)}-${id.slice(4)}`) : undefined;
}

/** Every UTC day of a month (epoch ms of midnights). */
function daysOfMonth(month: Month): number[] {
  return Array.from({ length: month.days }, (_, i) => month.start + i * DAY_MS);
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** Apply the configured retention now (or say what it would do). */
export async function applyRetention(warehouse: Warehouse, config: Pick<Config, 'retention'>, options: RetentionOptions = {}): Promise<RetentionResult> {
  const now = options.now ?? Date.now();
  const dryRun = options.dryRun === true;
  // When it happened (the horizon follows `now`, which a test or a job's tick may set).
  const appliedAt = new Date().toISOString().slice(0, 23).replace('T', ' ');
  const result: RetentionResult = { dryRun, appliedAt, tables: [], rowsWritten: 0 };
  for (const { table, setting } of RETAINED_TABLES) {
    const keepDays = config.retention[setting];
    const horizon = dayStart(now) - keepDays * DAY_MS;
    const outcome: TableOutcome = { table, keepDays, horizon: formatDate(horizon), keptFrom: formatDate(monthStart(horizon)), partitions: [] };
    for (const { partition, rows } of await warehouse.query(sqlFile('retention/partitions'), { table }, partitionRow)) {
      const month = monthOfPartition(partition);
      if (!month) {
        outcome.partitions.push({ partition, rows, action: 'refused', reasons: [`partition ${partition} is not a month (YYYYMM): ${table} is not partitioned as retention expects`] });
        continue;
      }
      // Whole months only: a month goes once its last day is older than the horizon.
      if (month.end > horizon) continue;
      const check = table === 'inference_requests' ? await checkRequestMonth(warehouse, month, dryRun) : { refusals: [], notes: [], days: [] };
      if (check.refusals.length > 0) {
        outcome.partitions.push({ partition, rows, action: 'refused', reasons: check.refusals });
        continue;
      }
      if (dryRun) {
        outcome.partitions.push({ partition, rows, action: 'would drop', reasons: check.notes });
        continue;
      }
      // What each day's groups hold is on record before its raw rows go (attribution reads it, and stops rebuilding the day).
      if (table === 'inference_requests') result.rowsWritten += await recordTrimmedDays(warehouse, month, check.days, appliedAt);
      // The partition is a month number (toYYYYMM), bound as a parameter; the table comes from the constant list above.
      await warehouse.command('ALTER TABLE {table:Identifier} DROP PARTITION {month:UInt32}', { table, month: Number(partition) });
      outcome.partitions.push({ partition, rows, action: 'dropped', reasons: [] });
    }
    result.tables.push(outcome);
  }
  if (!dryRun) {
    await warehouse.insertObjects('retention_runs', result.tables.map((t) => ({
      applied_at: appliedAt,
      table_name: t.table,
      keep_days: t.keepDays,
      horizon: t.horizon,
      kept_from: t.keptFrom,
      dropped_partitions: t.partitions.filter((p) => p.action === 'dropped').map((p) => p.partition),
      dropped_rows: t.partitions.filter((p) => p.action === 'dropped').reduce((n, p) => n + p.rows, 0),
      refused: t.partitions.filter((p) => p.action === 'refused').map((p) => `${p.partition}: ${p.reasons.join('; ')}`),
      job_id: options.jobId ?? '',
    })));
    result.rowsWritten += result.tables.length;
  }
  return result;
}

type MonthDay = z.infer<typeof dayRow>;

interface MonthCheck {
  /** Why the month may not go; none when it may. */
  refusals: string[];
  /** On a dry run: what a real run would do first. */
  notes: string[];
  /** Its days with raw rows, groups or a record, as checked. */
  days: MonthDay[];
}

/**
 * Whether a month of raw requests may go: the hourly groups of each day made
 * current (not on a dry run), then checked against the raw rows.
 */
async function checkRequestMonth(warehouse: Warehouse, month: Month, dryRun: boolean): Promise<MonthCheck> {
  const refusals: string[] = [];
  const unbuilt: string[] = [];
  const bounds = { from: formatDateTime(month.start), to: formatDateTime(month.end) };
  // Days with nothing (no raw rows, no groups, no record) have nothing to build or check.
  const active = await warehouse.query(sqlFile('retention/month-active-days'), bounds, z.object({ day: z.string() }));
  for (const day of active.map((d) => parseDate(d.day))) {
    if (dryRun) {
      const trimmed = await trimmedDay(warehouse, day);
      const problem = trimmed.trimmed ? trimmedDayProblem(trimmed) : undefined;
      if (problem !== undefined) refusals.push(`${formatDate(day)}: ${problem}`);
      else if (!trimmed.trimmed && (await hourStates(warehouse, day)).some((h) => !h.current && h.raw_rows > 0n)) unbuilt.push(formatDate(day));
      continue;
    }
    try {
      await refreshRequestHours(warehouse, day);
    } catch (err) {
      if (!(err instanceof TrafficRefusedError)) throw err;
      refusals.push(err.message);
    }
  }
  const days = await warehouse.query(sqlFile('retention/month-days'), bounds, dayRow);
  for (const d of days) {
    // A trimmed day was checked against its record above; raw rows that arrived for it since go with the month.
    // A day without raw rows (removed by other means) has its groups, found complete above, and nothing to check them against.
    if (d.trimmed || d.raw_rows === 0 || unbuilt.includes(d.day)) continue;
    if (d.raw_requests !== d.kept_requests) {
      refusals.push(`${d.day}: its hourly groups hold ${fmt(d.kept_requests)} requests, its raw rows ${fmt(d.raw_requests)} (deduplicated): kept until they match (rows still arriving? run retention again)`);
    }
  }
  const notes = unbuilt.length === 0 ? [] : [`would first build the hourly groups of ${unbuilt.length} day(s) from their raw rows (${unbuilt[0] ?? ''}${unbuilt.length > 1 ? ` .. ${unbuilt.at(-1) ?? ''}` : ''})`];
  return { refusals, notes, days };
}

/** Record what each day of the month not trimmed before holds (every calendar day, none left out), before its raw rows go. Returns the rows written. */
async function recordTrimmedDays(warehouse: Warehouse, month: Month, checked: readonly MonthDay[], trimmedAt: string): Promise<number> {
  const days = new Map(checked.map((d) => [d.day, d]));
  const rows = daysOfMonth(month).map(formatDate).filter((day) => days.get(day)?.trimmed !== true).map((day) => {
    const d = days.get(day);
    return { day, requests: d?.kept_requests ?? 0, group_rows: d?.kept_groups ?? 0, raw_rows: d?.raw_rows ?? 0, trimmed_at: trimmedAt };
  });
  if (rows.length > 0) await warehouse.insertObjects('retention_days', rows);
  return rows.length;
}
