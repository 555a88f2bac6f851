/**
 * Is a day complete enough to alert on, and if not, how many of its first
 * hours are? A day is complete when no request waits for its bill, the bill
 * covers all 24 hours of every billed pool, and its traffic has settled. The
 * current day is judged hour by hour before that: its first hours count once
 * each is over and settled, billed for every expected pool, and attributed
 * after its last request arrived.
 */
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { DAY_MS, parseDate as dayMs, parseDateTime as instantMs, HOUR_MS } from '../util/time.js';

type AlertSettings = Config['alerts'];

export const dayStatusRow = z.object({
  day: z.string(), requests: z.coerce.number(), pending_requests: z.coerce.number(), min_billed_hours: z.coerce.number(),
  estimated: z.boolean(), attributed_at: z.string(), last_ingested_at: z.string().nullable(),
});
export type DayStatus = z.infer<typeof dayStatusRow>;

const poolHoursRow = z.object({ pool_id: z.string(), hours: z.array(z.number().int()) });
const hourIngestRow = z.object({ hour: z.number().int(), last_ingested_at: z.string() });

/** Why a day cannot be judged yet, or undefined when it is complete. */
export function incompleteReason(status: DayStatus | undefined, settings: AlertSettings, now: number): string | undefined {
  if (!status) return 'not attributed yet';
  if (status.pending_requests > 0) return `${status.pending_requests} requests still wait for their bill`;
  if (status.min_billed_hours < 24) return `the bill covers only ${status.min_billed_hours} of 24 hours for some pool`;
  const dayEnd = dayMs(status.day) + DAY_MS;
  const old = now - dayEnd >= settings.completeAfterHours * HOUR_MS;
  if (!old) {
    if (now < dayEnd) return 'the day is not over';
    const last = status.last_ingested_at === null ? 0 : instantMs(status.last_ingested_at);
    if (now - last < settings.settleMinutes * 60_000) return 'traffic is still arriving';
  }
  return undefined;
}

/**
 * How many hours of a day not complete yet, counted from 00:00 UTC, are
 * complete: each over for settleMinutes, covered by the bill of every pool
 * billed that day or the day before, and holding no request stored after the
 * day was last attributed. The first hour that fails ends the count.
 */
export async function completeHours(warehouse: Warehouse, status: DayStatus | undefined, settings: AlertSettings, now: number): Promise<number> {
  if (!status) return 0;
  const [pools, ingest] = await Promise.all([
    warehouse.query(sqlFile('alerts/day-pool-hours'), { day: status.day }, poolHoursRow),
    warehouse.query(sqlFile('alerts/day-hour-ingest'), { day: status.day }, hourIngestRow),
  ]);
  if (pools.length === 0) return 0;
  const billed = pools.map((p) => new Set(p.hours));
  const lastIngested = new Map(ingest.map((r) => [r.hour, instantMs(r.last_ingested_at)]));
  const attributedAt = instantMs(status.attributed_at);
  const start = dayMs(status.day);
  let hours = 0;
  for (; hours < 24; hours++) {
    if (now - (start + (hours + 1) * HOUR_MS) < settings.settleMinutes * 60_000) break;
    if (!billed.every((h) => h.has(hours))) break;
    if ((lastIngested.get(hours) ?? 0) > attributedAt) break;
  }
  return hours;
}
