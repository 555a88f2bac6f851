/**
 * The hourly groups of traffic (request_hours): the deduplicated requests per
 * UTC hour, pool and group, which attribution reads instead of the raw rows
 * and which stay once retention has removed the raw rows.
 *
 * Kept current per day, at the start of attributing it (and before retention
 * removes it): while the day has raw rows, every hour whose raw rows changed
 * since its groups were built (their count or ingested_at fingerprint, read
 * without FINAL, or a mutation of the table since), or whose groups are
 * incomplete, is rebuilt from the raw rows (FINAL), and the day is swapped in
 * whole (REPLACE PARTITION), unchanged hours copied as they were. An
 * unchanged day writes nothing.
 *
 * Which source is the truth for a day:
 *  - a day retention trimmed (a row in retention_days): its groups, which must
 *    still hold what they held then, else it is refused (TrafficRefusedError);
 *    raw rows that arrive for it later are not attributed (`lateRows`);
 *  - any other day with raw rows: the raw rows (the groups follow them);
 *  - a day without raw rows: its groups if it has any (refused when they are
 *    incomplete), else it had no traffic.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { DAY_MS, formatDate, formatDateTime } from '../util/time.js';

/** A day attribution must not compute: its traffic is gone or incomplete. Nothing was written. */
export class TrafficRefusedError extends Error {
  constructor(readonly day: string, reason: string) {
    super(`${day}: not attributed: ${reason}`);
    this.name = 'TrafficRefusedError';
  }
}

export interface RequestHoursRefresh {
  day: string;
  /** Where the day's traffic comes from now. */
  source: 'raw rows' | 'hourly groups (raw rows trimmed by retention)' | 'hourly groups (no raw rows)' | 'none';
  /** Hours whose groups were rebuilt from the raw rows. */
  rebuiltHours: number;
  /** Raw rows that arrived for a trimmed day after retention: not attributed (retention removes them again). */
  lateRows: number;
}

const hourRow = z.object({
  hour: z.string(),
  raw_rows: z.coerce.bigint(),
  raw_fingerprint: z.coerce.bigint(),
  mutation: z.coerce.bigint(),
  kept_groups: z.coerce.number(),
  consistent: z.coerce.boolean(),
  current: z.coerce.boolean(),
});
export type HourState = z.infer<typeof hourRow>;

const trimmedRow = z.object({
  trimmed: z.coerce.boolean(),
  trimmed_requests: z.coerce.number(),
  trimmed_groups: z.coerce.number(),
  trimmed_on: z.string(),
  held_requests: z.coerce.number(),
  held_groups: z.coerce.number(),
});
export type TrimmedDay = z.infer<typeof trimmedRow>;

const countRow = z.object({ n: z.coerce.number() });

const dayParams = (dayStart: number) => ({ day_start: formatDateTime(dayStart), day_end: formatDateTime(dayStart + DAY_MS) });

/** Each hour of the day with raw rows or groups, and whether its groups are current (oldest first). */
export async function hourStates(warehouse: Warehouse, dayStart: number): Promise<HourState[]> {
  return warehouse.query(sqlFile('attribution/request-hours-state'), dayParams(dayStart), hourRow);
}

/** Whether retention trimmed the day's raw rows, and what its groups held then and hold now. */
export async function trimmedDay(warehouse: Warehouse, dayStart: number): Promise<TrimmedDay> {
  const [row] = await warehouse.query(sqlFile('attribution/request-hours-trimmed'), { day: formatDate(dayStart), ...dayParams(dayStart) }, trimmedRow);
  if (!row) throw new Error('request-hours-trimmed returned no row');
  return row;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** Why a trimmed day's groups cannot stand for it, or undefined when they still hold what they held. */
export function trimmedDayProblem(t: TrimmedDay): string | undefined {
  if (t.held_requests === t.trimmed_requests && t.held_groups === t.trimmed_groups) return undefined;
  return `its raw requests were removed by retention on ${t.trimmed_on} (${fmt(t.trimmed_requests)} requests in ${fmt(t.trimmed_groups)} hourly groups), ` +
    `and request_hours now holds ${fmt(t.held_requests)} requests in ${fmt(t.held_groups)} groups for it; ` +
    'attributing it would count its traffic wrong (as none, if the groups are gone). Restore request_hours of the day from a backup taken after retention, then attribute it again';
}

const STAGE_NAME = /^attribution_stage_[0-9a-f]{12}_hourgroups$/;

/**
 * Make the day's hourly groups current (see the module comment), or throw
 * TrafficRefusedError when the day's traffic cannot be known.
 */
export async function refreshRequestHours(warehouse: Warehouse, dayStart: number): Promise<RequestHoursRefresh> {
  const day = formatDate(dayStart);
  const trimmed = await trimmedDay(warehouse, dayStart);
  if (trimmed.trimmed) {
    const problem = trimmedDayProblem(trimmed);
    if (problem !== undefined) throw new TrafficRefusedError(day, problem);
    const [late] = await warehouse.query(sqlFile('attribution/day-raw-rows'), dayParams(dayStart), countRow);
    return { day, source: 'hourly groups (raw rows trimmed by retention)', rebuiltHours: 0, lateRows: late?.n ?? 0 };
  }
  const hours = await hourStates(warehouse, dayStart);
  if (hours.every((h) => h.raw_rows === 0n)) {
    // No raw rows: the groups (if any) are all that is left of the day, so they are kept, not emptied.
    const incomplete = hours.filter((h) => !h.consistent);
    if (incomplete.length > 0) {
      throw new TrafficRefusedError(day, `it has no raw requests, and its hourly groups in request_hours are incomplete for ${incomplete.length} hour(s) (first ${incomplete[0]?.hour ?? ''}); they cannot be rebuilt without the raw rows`);
    }
    return { day, source: hours.length > 0 ? 'hourly groups (no raw rows)' : 'none', rebuiltHours: 0, lateRows: 0 };
  }
  const stale = hours.filter((h) => !h.current);
  if (stale.length > 0) await rebuildHours(warehouse, dayStart, stale);
  return { day, source: 'raw rows', rebuiltHours: stale.length, lateRows: 0 };
}

/** Rebuild the given hours of the day from the raw rows, keep the others, and swap the day in whole. */
async function rebuildHours(warehouse: Warehouse, dayStart: number, stale: readonly HourState[]): Promise<void> {
  const stage = `attribution_stage_${randomBytes(6).toString('hex')}_hourgroups`;
  if (!STAGE_NAME.test(stage)) throw new Error(`unexpected staging table name ${stage}`);
  const hours = stale.map((h) => h.hour);
  const params = { ...dayParams(dayStart), hours };
  try {
    await warehouse.command('CREATE TABLE {stage:Identifier} AS request_hours', { stage });
    await warehouse.command(`INSERT INTO {stage:Identifier} ${sqlFile('attribution/request-hours-keep')}`, { ...params, stage });
    await warehouse.command(`INSERT INTO {stage:Identifier} ${sqlFile('attribution/request-hours-build')}`, {
      ...params,
      stage,
      source_rows: stale.map((h) => h.raw_rows),
      source_fingerprints: stale.map((h) => h.raw_fingerprint),
      source_mutation: stale[0]?.mutation ?? 0n,
      built_at: new Date().toISOString().slice(0, 23).replace('T', ' '),
    });
    // Retention may have trimmed the day meanwhile (it records that before dropping the rows):
    // then the rows just read may be none, and the groups it verified must stay.
    if ((await trimmedDay(warehouse, dayStart)).trimmed) return;
    const [count] = await warehouse.query('SELECT count() AS n FROM {stage:Identifier}', { stage }, countRow);
    // The partition is the day (toYYYYMMDD), bound as a parameter; the staging table's name is ours (checked above).
    const partition = Number(formatDate(dayStart).replaceAll('-', ''));
    if ((count?.n ?? 0) > 0) {
      await warehouse.command(`ALTER TABLE request_hours REPLACE PARTITION {day:UInt32} FROM ${stage}`, { day: partition });
    } else {
      await warehouse.command('ALTER TABLE request_hours DROP PARTITION {day:UInt32}', { day: partition });
    }
  } finally {
    await warehouse.command('DROP TABLE IF EXISTS {stage:Identifier}', { stage });
  }
}
